# berth-memory-oom: runs beside berth (PID 1) in the guest's root namespaces; berth reaps it.
# It waits for berth, then checks the hog's OOM kill in the cgroup berth made for it, the idle
# service still running, and berthctl's account of both; then SIGTERM to PID 1, which must stop
# the fleet and power off (the host asserts the ending: expect says shutdown poweroff).
. /usr/lib/berth-vm/lib.sh

finish() {
    vm_done
    kill -TERM 1
    exit 0
}

if vm_wait 60 vm_pid1_handles 15; then
    vm_pass pid1_ready
else
    vm_fail pid1_ready "PID 1 left SIGTERM at its default action for 60 s"
    finish
fi

# DESIGN: as PID 1, berth owns the cgroup2 root; each replica is <root>/<service>/<replica>.
hog=/sys/fs/cgroup/hog/0
oom_killed() {
    [ "$(awk '$1 == "oom_kill" { print $2 }' "$hog/memory.events" 2>/dev/null)" -ge 1 ]
}
if vm_wait 60 oom_killed; then
    vm_pass hog_oom_killed "$(tr '\n' ' ' <"$hog/memory.events")"
else
    vm_fail hog_oom_killed "memory.events: $(tr '\n' ' ' 2>&1 <"$hog/memory.events")"
fi
vm_check hog_memory_max test "$(cat "$hog/memory.max" 2>&1)" = 33554432
vm_check idle_running grep -q 1 /sys/fs/cgroup/idle/0/cgroup.events

if [ -x /usr/bin/berthctl ]; then
    status=$(berthctl status 2>&1)
    vm_value berthctl_status "$status"
    case "$status" in
    *hog*oom* | *hog*OOM*) vm_pass status_reports_oom ;;
    *) vm_fail status_reports_oom "berthctl status: $status" ;;
    esac
fi
finish
