# berth-cpu-io: runs beside berth (PID 1) in the guest's root namespaces; berth reaps it. It
# measures the busy loop's CPU use over at least 5 s of the guest's clock (cpu.stat usage_usec
# against /proc/uptime), then reads back what berth wrote for the other service; then SIGTERM
# to PID 1, which must stop the fleet and power off.
. /usr/lib/berth-vm/lib.sh

vm_wait_berth

spin=/sys/fs/cgroup/spin/0
weighted=/sys/fs/cgroup/weighted/0
up() {
    [ "$(wc -l <"$1/cgroup.procs")" -ge 2 ] 2>/dev/null # berth-shim (init) and the workload
}
vm_wait 30 up "$spin"
vm_wait 30 up "$weighted"

vm_check spin_cpu_max test "$(cat "$spin/cpu.max" 2>&1)" = "20000 100000"

# usage_usec over the guest's own uptime; TCG runs unevenly, so 6 s (5 s at the least).
sleep 1
read -r t0 _ </proc/uptime
u0=$(vm_field "$spin/cpu.stat" usage_usec)
th0=$(vm_field "$spin/cpu.stat" nr_throttled)
while :; do
    sleep 1
    read -r t1 _ </proc/uptime
    awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 6) }' && break
done
u1=$(vm_field "$spin/cpu.stat" usage_usec)
th1=$(vm_field "$spin/cpu.stat" nr_throttled)
percent=$(awk -v u0="$u0" -v u1="$u1" -v t0="$t0" -v t1="$t1" \
    'BEGIN { printf "%.1f", (u1 - u0) / ((t1 - t0) * 1e6) * 100 }')
detail="usage_usec $u0 -> $u1 over $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"
vm_value spin_cpu_percent "$percent"
if awk -v p="$percent" 'BEGIN { exit !(p >= 15 && p <= 25) }'; then
    vm_pass spin_cpu_share "$percent % of one CPU: $detail"
else
    vm_fail spin_cpu_share "$percent % of one CPU, expected 15-25: $detail"
fi
if [ "${th1:-0}" -gt "${th0:-0}" ]; then
    vm_pass spin_throttled "nr_throttled $th0 -> $th1"
else
    vm_fail spin_throttled "nr_throttled $th0 -> $th1: $(tr '\n' ' ' <"$spin/cpu.stat")"
fi

# io_weight: io.weight (iocost) says "default N"; io.bfq.weight (BFQ, when loaded) too.
io=""
for f in io.weight io.bfq.weight; do
    [ -e "$weighted/$f" ] && io="$io $f: $(tr '\n' ' ' <"$weighted/$f")"
done
case "$io" in
*"default 300 "* | *"default 300") vm_pass weighted_io_weight "$io" ;;
*) vm_fail weighted_io_weight "expected 'default 300' in:${io:- no io.weight, no io.bfq.weight}" ;;
esac
vm_check weighted_cpu_weight test "$(cat "$weighted/cpu.weight" 2>&1)" = 50
cpus=$(cat "$weighted/cpuset.cpus" 2>&1)
effective=$(cat "$weighted/cpuset.cpus.effective" 2>&1)
if [ "$cpus" = 1 ] && [ "$effective" = 1 ]; then
    vm_pass weighted_cpuset "cpuset.cpus $cpus, effective $effective"
else
    vm_fail weighted_cpuset "cpuset.cpus '$cpus', effective '$effective', expected 1"
fi
# Every task of the container may run on CPU 1 only.
affinity=""
wrong=""
for pid in $(cat "$weighted/cgroup.procs"); do
    allowed=$(awk '$1 == "Cpus_allowed_list:" { print $2 }' "/proc/$pid/status")
    affinity="$affinity $pid:$allowed"
    [ "$allowed" = 1 ] || wrong="$wrong $pid"
done
if [ -n "$affinity" ] && [ -z "$wrong" ]; then
    vm_pass weighted_affinity "Cpus_allowed_list per pid:$affinity"
else
    vm_fail weighted_affinity "not CPU 1 only:${wrong:- no task}; Cpus_allowed_list per" \
        "pid:${affinity:- none}"
fi
vm_check weighted_service_pids_max test "$(cat /sys/fs/cgroup/weighted/pids.max 2>&1)" = 100
vm_finish
