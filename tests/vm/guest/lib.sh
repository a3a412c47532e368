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
#   vm_skip CHECK REASON         BERTH-VM: <scenario> CHECK SKIP REASON (a check that cannot run
#                                here, e.g. without /usr/bin/berthctl; never instead of a FAIL)
#   vm_check CHECK CMD [ARG...]  PASS if CMD exits 0, else FAIL with its output
#   vm_value KEY VALUE           BERTH-VM: <scenario> KEY=VALUE
#   vm_clock_offset              the value clock_offset: wall clock minus /proc/uptime, so that
#                                the host can place PID 1's log times on the uptime clock
#                                (console-uptime in an expect file)
#   vm_done                      BERTH-VM: <scenario> DONE (the host fails a boot without it)
#   vm_wait SECONDS CMD [ARG...] retries CMD every 0.1 s until it succeeds; 1 after SECONDS
#   vm_field FILE KEY            the value of KEY in a flat-keyed file (memory.events, cpu.stat)
#   vm_pid1_handles SIGNUM       PID 1 blocks or catches SIGNUM, so a kill(1, SIGNUM) counts
#   vm_boot                      this boot's number, 1, 2, ... (a scenario with `boots N`; the
#                                host puts berth_vm.boot=N on the kernel command line)
#   vm_poweroff / vm_reboot      reboot(2) at once (busybox -f: no init to ask, no sync: a
#                                scenario with a disk leaves syncing it to its PID 1)
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

vm_skip() {
    vm_check_name=$1
    shift
    vm_say "$vm_check_name SKIP $(vm_oneline "$*")"
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

# adjtimex (no options: it only reads) gives the wall clock in microseconds, `date` only in
# seconds; the two /proc/uptime reads around it bound the error (10 ms ticks).
vm_clock_offset() {
    read -r vm_up1 _ </proc/uptime
    vm_wall=$(adjtimex | awk '$1 == "time.tv_sec:" { s = $2 } $1 == "time.tv_usec:" { u = $2 }
        END { printf "%d.%06d", s, u }')
    read -r vm_up2 _ </proc/uptime
    vm_value clock_offset "$(awk -v n="$vm_wall" -v a="$vm_up1" -v b="$vm_up2" \
        'BEGIN { printf "%.3f", n - (a + b) / 2 }')"
}

vm_done() {
    vm_say DONE
}

# vm_keys KEY+KEY...: the host presses these keys (QEMU qcodes) together on the guest's keyboard,
# e.g. `vm_keys ctrl+alt+delete`; it reads the request from the marker port (vmrig/qemu.py).
vm_keys() {
    vm_say "keys=$1"
}

# vm_now: the guest's uptime in hundredths of a second, set without a fork ("12.34" -> 1234; the
# 1 in front of the fraction keeps "09" from reading as octal).
vm_clock() {
    read -r vm_up _ </proc/uptime
    vm_now=$((${vm_up%.*} * 100 + 1${vm_up#*.} - 100))
}

# A deadline on the guest's clock, not a count of tries: a slow CMD does not stretch SECONDS.
vm_wait() {
    vm_clock
    vm_wait_until=$((vm_now + $1 * 100))
    shift
    while ! "$@" >/dev/null 2>&1; do
        vm_clock
        [ "$vm_now" -lt "$vm_wait_until" ] || return 1
        sleep 0.1
    done
}

vm_field() {
    awk -v key="$2" '$1 == key { print $2 }' "$1" 2>/dev/null
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

# The end of a berth probe: the DONE marker, then SIGTERM to PID 1, which stops the fleet and
# powers off (the host asserts that ending).
vm_finish() {
    vm_done
    kill -TERM 1
    exit 0
}

# The start of a berth probe: waits until berth (PID 1) has its signals set up, then marks
# pid1_ready with DETAIL; without it, fails pid1_ready and ends the probe.
vm_wait_berth() {
    if vm_wait 60 vm_pid1_handles 15; then
        vm_pass pid1_ready "$@"
    else
        vm_fail pid1_ready "PID 1 left SIGTERM at its default action for 60 s"
        vm_finish
    fi
}

vm_boot() {
    read -r vm_cmdline </proc/cmdline
    for vm_word in $vm_cmdline; do
        case $vm_word in
        berth_vm.boot=*)
            echo "${vm_word#*=}"
            return 0
            ;;
        esac
    done
    echo 1
}

vm_poweroff() {
    poweroff -f
}

vm_reboot() {
    reboot -f
}
