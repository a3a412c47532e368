# rig-limits-smoke: cgroup v2 limits bite in this kernel, checked the way berth's VM tests will:
# memory.max ends in an OOM kill counted in memory.events, pids.max refuses forks, cpu.max
# throttles. PID 1 of the guest (via /init); the host judges the markers (./expect).
. /usr/lib/berth-vm/lib.sh

root=/sys/fs/cgroup
mount -t cgroup2 cgroup2 "$root"
echo "+cpu +memory +pids" >"$root/cgroup.subtree_control"

# in_cgroup DIR CMD...: runs CMD in a child shell that first moves itself into DIR.
in_cgroup() {
    cg=$1
    shift
    sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

# field FILE KEY: the value of KEY in a flat-keyed cgroup file (memory.events, cpu.stat, ...).
field() {
    awk -v key="$2" '$1 == key { print $2 }' "$1"
}

# Removes a cgroup once it is empty: cgroup.kill (Linux 5.14), then wait for "populated 0".
remove_cgroup() {
    echo 1 >"$1/cgroup.kill"
    for _ in $(seq 50); do
        [ "$(field "$1/cgroup.events" populated)" = 0 ] && break
        sleep 0.1
    done
    rmdir "$1" || vm_fail cleanup "rmdir '$1'"
}

# memory.max: dd reads 64 MiB, twice the limit, into one buffer it has to hold.
cg=$root/smoke-memory
mkdir "$cg"
echo 32M >"$cg/memory.max"
echo 0 >"$cg/memory.swap.max"
vm_check memory_max_set test "$(cat "$cg/memory.max")" = 33554432
in_cgroup "$cg" dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null
status=$?
oom_kills=$(field "$cg/memory.events" oom_kill)
vm_value memory_events "$(tr '\n' ' ' <"$cg/memory.events")"
if [ "${oom_kills:-0}" -ge 1 ]; then
    vm_pass memory_oom_kill "oom_kill $oom_kills"
else
    vm_fail memory_oom_kill "memory.events: $(tr '\n' ' ' <"$cg/memory.events")"
fi
if [ "$status" = 137 ]; then
    vm_pass memory_oom_status "exit status 137 (SIGKILL)"
else
    vm_fail memory_oom_status "exit status $status, expected 137 (SIGKILL)"
fi
remove_cgroup "$cg"

# pids.max: 8 tasks at most; the shell tries to start 20 sleepers.
cg=$root/smoke-pids
mkdir "$cg"
echo 8 >"$cg/pids.max"
in_cgroup "$cg" sh -c 'for i in $(seq 20); do sleep 30 & done 2>/dev/null; exit 0'
refused=$(field "$cg/pids.events" max)
current=$(cat "$cg/pids.current")
if [ "${refused:-0}" -ge 1 ] && [ "$current" -le 8 ]; then
    vm_pass pids_max_enforced "pids.events max $refused, pids.current $current"
else
    vm_fail pids_max_enforced "pids.events max ${refused:-none}, pids.current $current"
fi
remove_cgroup "$cg"

# cpu.max: 10 ms per 100 ms period for one second of busy looping. The loop is ended from out
# here (cgroup.kill in remove_cgroup), not by a watcher that would share the throttled quota.
cg=$root/smoke-cpu
mkdir "$cg"
echo "10000 100000" >"$cg/cpu.max"
in_cgroup "$cg" sh -c 'while :; do :; done' &
sleep 1
throttled=$(field "$cg/cpu.stat" nr_throttled)
vm_value cpu_stat "$(tr '\n' ' ' <"$cg/cpu.stat")"
if [ "${throttled:-0}" -ge 1 ]; then
    vm_pass cpu_max_throttled "nr_throttled $throttled"
else
    vm_fail cpu_max_throttled "cpu.stat: $(tr '\n' ' ' <"$cg/cpu.stat")"
fi
remove_cgroup "$cg"

vm_done
vm_poweroff
