# berth-pids: runs beside berth (PID 1) in the guest's root namespaces; berth reaps it. It waits
# for the bomb to hit pids.max, samples pids.current for a while, checks the bomb still runs and
# the neighbour kept its processes, asks berthctl whether berth answers under the bomb; then
# SIGTERM to PID 1 (the host checks berth's shutdown on the console).
. /usr/lib/berth-vm/lib.sh

vm_wait_berth

bomb=/sys/fs/cgroup/bomb/0
idle=/sys/fs/cgroup/idle/0
idle_up() {
    [ "$(wc -l <"$idle/cgroup.procs")" -ge 2 ] 2>/dev/null # berth-shim (init) and sleep
}
vm_wait 30 idle_up
before=$(tr '\n' ' ' <"$idle/cgroup.procs" 2>&1)

vm_check bomb_tool test -x /var/lib/berth/layers/busybox/usr/bin/berth-vm-forkbomb
vm_check bomb_pids_max test "$(cat "$bomb/pids.max" 2>&1)" = 32
refused() {
    [ "$(vm_field "$bomb/pids.events" max)" -gt 0 ] 2>/dev/null
}
if vm_wait 60 refused; then
    vm_pass bomb_hit_limit "pids.events max $(vm_field "$bomb/pids.events" max)"
else
    vm_fail bomb_hit_limit "pids.events: $(cat "$bomb/pids.events" 2>&1), pids.current" \
        "$(cat "$bomb/pids.current" 2>&1)"
fi

# 30 samples, 0.1 s apart (longer in practice: the bomb keeps both CPUs busy).
peak=0
over=""
for _ in $(seq 30); do
    current=$(cat "$bomb/pids.current")
    [ "$current" -gt "$peak" ] && peak=$current
    [ "$current" -gt 32 ] && over="$over $current"
    sleep 0.1
done
refusals=$(vm_field "$bomb/pids.events" max)
if [ -z "$over" ] && [ "$peak" -eq 32 ]; then
    vm_pass bomb_contained "pids.current peak $peak of 32, pids.events max $refusals"
else
    vm_fail bomb_contained "pids.current peak $peak, over 32:${over:- none}, pids.events max" \
        "$refusals"
fi

# The bomb churns on: forks still being refused, the cgroup still full.
refusals_then=$refusals
sleep 1
refusals=$(vm_field "$bomb/pids.events" max)
if [ "$refusals" -gt "$refusals_then" ] && [ "$(vm_field "$bomb/cgroup.events" populated)" = 1 ]
then
    vm_pass bomb_still_running "pids.events max $refusals_then -> $refusals"
else
    vm_fail bomb_still_running "pids.events max $refusals_then -> $refusals, cgroup.events" \
        "$(tr '\n' ' ' <"$bomb/cgroup.events")"
fi

after=$(tr '\n' ' ' <"$idle/cgroup.procs" 2>&1)
if [ -n "$before" ] && [ "$after" = "$before" ]; then
    vm_pass idle_unaffected "pids $after"
else
    vm_fail idle_unaffected "pids before '$before', after '$after'"
fi

# berthctl answers within a second, and its table lists the bomb as ready.
if out=$(timeout 1 berthctl status 2>&1); then
    case "$out" in
    *"bomb "*" 0 "*" ready "*) vm_pass status_answers_under_bomb "$(vm_oneline "$out")" ;;
    *) vm_fail status_answers_under_bomb "no 'bomb 0 ready' row: $(vm_oneline "$out")" ;;
    esac
else
    vm_fail status_answers_under_bomb "'timeout 1 berthctl status' exited $?: $out"
fi
vm_finish
