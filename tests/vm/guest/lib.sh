# Marker helpers for guest scripts of berth's VM tests (busybox sh); source, then report.
#
# Every marker goes to two places: /dev/ttyS1, the rig's marker port, where only userspace writes
# (each echo is one write(2), so lines stay whole), and stdout, the console on ttyS0, where printk
# may cut into a line. The host reads both. A container without /dev/ttyS1 reports through its
# stdout only, which the host sees only if it reaches the console (berth writes service output
# to per-replica log files): give a probe service /dev/ttyS1 (see docs/vm-tests.md).
#
#   vm_pass CHECK [DETAIL]       BERTH-VM: <scenario> CHECK PASS DETAIL
#   vm_fail CHECK [DETAIL]       BERTH-VM: <scenario> CHECK FAIL DETAIL
#   vm_check CHECK CMD [ARG...]  PASS if CMD exits 0, else FAIL with its output
#   vm_value KEY VALUE           BERTH-VM: <scenario> KEY=VALUE
#   vm_done                      BERTH-VM: <scenario> DONE (the host fails a boot without it)
#   vm_wait SECONDS CMD [ARG...] retries CMD every 0.1 s until it succeeds; 1 after SECONDS
#   vm_pid1_handles SIGNUM       PID 1 blocks or catches SIGNUM, so a kill(1, SIGNUM) counts
#   vm_poweroff / vm_reboot      reboot(2) at once (busybox -f: no init to ask); the guest has no
#                                disk, so there is nothing to sync
if [ -z "${BERTH_VM_SCENARIO:-}" ] && [ -r /etc/berth-vm/env ]; then
    . /etc/berth-vm/env
fi

vm_say() {
    vm_line="BERTH-VM: ${BERTH_VM_SCENARIO:-unknown} $*"
    if [ -c /dev/ttyS1 ]; then
        { echo "$vm_line" >/dev/ttyS1; } 2>/dev/null
    fi
    echo "$vm_line"
}

vm_oneline() {
    echo "$*" | tr '\n' ' ' | sed 's/ *$//'
}

vm_pass() {
    vm_check_name=$1
    shift
    vm_say "$vm_check_name PASS${*:+ $(vm_oneline "$*")}"
}

vm_fail() {
    vm_check_name=$1
    shift
    vm_say "$vm_check_name FAIL${*:+ $(vm_oneline "$*")}"
}

vm_check() {
    vm_check_name=$1
    shift
    if vm_out=$("$@" 2>&1); then
        vm_pass "$vm_check_name"
    else
        vm_fail "$vm_check_name" "'$*' exited $?: $vm_out"
    fi
}

vm_value() {
    vm_say "$1=$2"
}

vm_done() {
    vm_say DONE
}

vm_wait() {
    vm_wait_ticks=$(($1 * 10))
    shift
    while ! "$@" >/dev/null 2>&1; do
        vm_wait_ticks=$((vm_wait_ticks - 1))
        [ "$vm_wait_ticks" -gt 0 ] || return 1
        sleep 0.1
    done
}

# The kernel drops a signal that PID 1 leaves at its default action, so a probe that signals
# PID 1 first waits for this (berth blocks its signals for signalfd; a handler counts too).
vm_pid1_handles() {
    while read -r vm_key vm_mask; do
        case $vm_key in
        SigBlk: | SigCgt:)
            [ $(((0x$vm_mask >> ($1 - 1)) & 1)) = 1 ] && return 0
            ;;
        esac
    done </proc/1/status
    return 1
}

vm_poweroff() {
    poweroff -f
}

vm_reboot() {
    reboot -f
}
