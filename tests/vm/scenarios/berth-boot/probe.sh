# berth-boot: runs beside berth (PID 1) in the guest's root namespaces; berth reaps it. It waits
# until every replica runs its workload, reports the guest's clock offset (the host turns berth's
# last "ready" log time into boot_to_ready_seconds with it), checks that PID 1 turned the kernel's
# hard reboot on ctrl-alt-del off (reboot(RB_DISABLE_CAD)), then has the host press
# ctrl+alt+delete on the guest's keyboard: the kernel sends PID 1 SIGINT, and berth reboots.
. /usr/lib/berth-vm/lib.sh

if vm_wait 60 vm_pid1_handles 2; then
    vm_pass pid1_ready "PID 1 blocks or catches SIGINT"
else
    vm_fail pid1_ready "PID 1 left SIGINT at its default action for 60 s"
fi

replicas="db/0 web/0 web/1 web/2 worker/0"
all_up() {
    for r in $replicas; do
        # berth-shim (init = true) and sleep
        [ "$(wc -l <"/sys/fs/cgroup/$r/cgroup.procs")" -ge 2 ] 2>/dev/null || return 1
    done
}
if vm_wait 60 all_up; then
    read -r uptime _ </proc/uptime
    vm_pass all_up "$replicas at uptime $uptime s (as the probe saw it)"
else
    vm_fail all_up "$(for r in $replicas; do
        echo "$r: $(tr '\n' ' ' <"/sys/fs/cgroup/$r/cgroup.procs" 2>&1);"
    done)"
fi
sleep 1 # berth logs "ready" as it learns of the exec; give the last line time to come out
vm_clock_offset
vm_check cad_disabled test "$(cat /proc/sys/kernel/ctrl-alt-del)" = 0
vm_done
vm_keys ctrl+alt+delete
