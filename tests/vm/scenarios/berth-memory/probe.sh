# berth-memory: runs beside berth (PID 1) in the guest's root namespaces; berth reaps it. It
# waits for berth, notes the idle neighbour, waits for the hog's OOM kills in the cgroup berth made
# for it (one per start: the first run and two restarts), checks the neighbour kept its
# processes, asks berthctl for its account, and scrapes /metrics on the
# guest's loopback; then SIGTERM to PID 1, which must stop the fleet and power off (the host
# asserts the ending: shutdown poweroff).
. /usr/lib/berth-vm/lib.sh

vm_wait_berth

# DESIGN: as PID 1, berth owns the cgroup2 root; each replica is <root>/<service>/<replica>.
hog=/sys/fs/cgroup/hog/0
idle=/sys/fs/cgroup/idle/0
oom_kills() {
    vm_field "$hog/memory.events" oom_kill
}
at_least_oom_kills() {
    [ "$(oom_kills)" -ge "$1" ] 2>/dev/null
}
idle_up() {
    [ "$(vm_field "$idle/cgroup.events" populated)" = 1 ] &&
        [ "$(wc -l <"$idle/cgroup.procs")" -ge 2 ] # berth-shim (init) and sleep
}

# The neighbour's processes before the hog's first OOM kill (the hog sleeps 2 s first).
if vm_wait 30 idle_up && [ "$(oom_kills)" = 0 ]; then
    before=$(tr '\n' ' ' <"$idle/cgroup.procs")
    vm_pass idle_before "pids $before"
else
    vm_fail idle_before "idle: $(cat "$idle/cgroup.procs" 2>&1 | tr '\n' ' '); hog oom_kill" \
        "$(oom_kills)"
fi

if vm_wait 60 at_least_oom_kills 1; then
    vm_pass hog_oom_killed "$(tr '\n' ' ' <"$hog/memory.events")"
else
    vm_fail hog_oom_killed "memory.events: $(tr '\n' ' ' 2>&1 <"$hog/memory.events")"
fi
vm_check hog_memory_max test "$(cat "$hog/memory.max" 2>&1)" = 33554432

# restart = on-failure: berth starts the hog again after each kill, until the start limit (3).
hog_gave_up() {
    at_least_oom_kills 3 && [ "$(vm_field "$hog/cgroup.events" populated)" != 1 ]
}
if vm_wait 60 hog_gave_up; then
    vm_pass hog_restarted "3 starts, oom_kill $(oom_kills)"
else
    vm_fail hog_restarted "memory.events: $(tr '\n' ' ' 2>&1 <"$hog/memory.events")"
fi

after=$(tr '\n' ' ' <"$idle/cgroup.procs" 2>&1)
idle_ooms=$(vm_field "$idle/memory.events" oom_kill)
if [ -n "${before:-}" ] && [ "$after" = "$before" ] && [ "${idle_ooms:-0}" = 0 ]; then
    vm_pass idle_unaffected "pids $after, oom_kill ${idle_ooms:-0}"
else
    vm_fail idle_unaffected "pids before '${before:-}', after '$after', oom_kill ${idle_ooms:-}"
fi

# berthctl's account: the hog failed after its restarts, its last exit an OOM kill.
status=$(berthctl status hog 2>&1)
json=$(berthctl --json status hog 2>&1 | tr -d ' \n')
vm_value berthctl_status "$(vm_oneline "$status")"
missing=""
for want in '"state":"failed"' '"restarts":2' '"last_exit_oom":true'; do
    case "$json" in
    *"$want"*) ;;
    *) missing="$missing $want" ;;
    esac
done
case "$status" in
*"after OOM kill"*) ;;
*) missing="$missing 'after OOM kill' in the table" ;;
esac
if [ -z "$missing" ]; then
    vm_pass status_reports_oom "$json"
else
    vm_fail status_reports_oom "missing:$missing; berthctl --json status hog: $json"
fi

# berth's /metrics (metrics_listen = "127.0.0.1:9464"), fetched with busybox wget under timeout
# (busybox 1.35's own wget -T segfaults). The collector
# reads the cgroups once per 10 s cycle, so the kills show in the per-container series up to a
# cycle after the last one: scrape until they do, or 30 s have passed.
metric() { # the value of one series (name and labels exactly as exposed) in the last scrape
    awk -v s="$1" 'index($0, s " ") == 1 { print $2; exit }' /tmp/metrics 2>/dev/null
}
positive() { # $1 is a number > 0 (the exposition may print a double)
    [ -n "$1" ] && awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'
}
scrape() {
    timeout 10 wget -q -O /tmp/metrics http://127.0.0.1:9464/metrics || return 1
    idle_mem=$(metric 'berth_container_memory_usage_bytes{service="idle",replica="0"}')
    hog_mem=$(metric 'berth_container_memory_usage_bytes{service="hog",replica="0"}')
    hog_events='berth_container_memory_events_total{service="hog",replica="0"'
    hog_kills=$(metric "$hog_events"',event="oom_kill"}')
    hog_oom_exits=$(metric 'berth_service_exits_total{service="hog",reason="oom"}')
    positive "$idle_mem" && [ -n "$hog_mem" ] && positive "$hog_kills" && positive "$hog_oom_exits"
}
vm_wait 30 scrape || true
vm_value metrics_hog "$(grep -E '^berth_[a-z_]+\{service="hog"' /tmp/metrics 2>&1 | tr '\n' ';')"
if positive "${idle_mem:-}" && [ -n "${hog_mem:-}" ]; then
    vm_pass metrics_memory "idle/0 ${idle_mem} bytes, hog/0 ${hog_mem} bytes"
else
    vm_fail metrics_memory "idle/0 '${idle_mem:-}', hog/0 '${hog_mem:-}' (wget: $(timeout 10 \
        wget -q -O /dev/null http://127.0.0.1:9464/metrics 2>&1))"
fi
if positive "${hog_kills:-}" && positive "${hog_oom_exits:-}"; then
    vm_pass metrics_oom "hog/0 oom_kill ${hog_kills}, exits{reason=oom} ${hog_oom_exits}"
else
    vm_fail metrics_oom "hog/0 oom_kill '${hog_kills:-}', exits{reason=oom} '${hog_oom_exits:-}'"
fi
vm_finish
