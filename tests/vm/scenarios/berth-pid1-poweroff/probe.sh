# berth-pid1-poweroff: runs beside berth (PID 1) in the guest's root namespaces; berth reaps it.
# It waits for the storm's 100 orphans to report their new parent (PID 1) and exit, then checks
# that none of them, and no other process, is left a zombie; then SIGTERM to PID 1. The host
# checks the shutdown on the console (stop_timeout kill, no shutdown_timeout, poweroff).
. /usr/lib/berth-vm/lib.sh

vm_wait_berth

if vm_wait 60 test -f /run/storm/forked; then
    vm_pass storm_forked "100 double forks"
else
    vm_fail storm_forked "no /run/storm/forked after 60 s: $(ls /run/storm 2>&1)"
    vm_finish
fi
all_reported() {
    [ "$(wc -l </run/storm/orphans)" -ge 100 ] 2>/dev/null
}
vm_wait 60 all_reported
reported=$(wc -l </run/storm/orphans 2>/dev/null)
parents=$(awk '{ print $2 }' /run/storm/orphans 2>/dev/null | sort | uniq -c | tr '\n' ' ')
if [ "${reported:-0}" = 100 ] && [ "$(awk '$2 != 1' /run/storm/orphans)" = "" ]; then
    vm_pass orphans_reparented "100 orphans, parents (count pid): $parents"
else
    vm_fail orphans_reparented "${reported:-0} orphans reported, parents (count pid): $parents"
fi

# An orphan that has exited but is not reaped is still in /proc (a zombie).
orphans_left() {
    for pid in $(awk '{ print $1 }' /run/storm/orphans); do
        [ -e "/proc/$pid" ] && echo "$pid"
    done
}
no_orphans_left() {
    [ -z "$(orphans_left)" ]
}
if vm_wait 10 no_orphans_left; then
    vm_pass orphans_reaped "all ${reported:-0} gone from /proc"
else
    left=""
    for pid in $(orphans_left); do
        left="$left $pid($(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null))"
    done
    vm_fail orphans_reaped "still in /proc (pid and state):$left"
fi

# Z in the state field of /proc/PID/stat (the field after the command name in parentheses).
# The read builtin, not cat: a fork per process would make the scan slow and itself churn.
zombies() {
    for stat in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$stat" || continue
        state=${line##*) }
        [ "${state%% *}" = Z ] && echo "${line%%) *})"
    done
}
no_zombies() {
    [ -z "$(zombies)" ]
}
if vm_wait 10 no_zombies; then
    vm_pass no_zombies "no process in state Z"
else
    vm_fail no_zombies "$(zombies | tr '\n' ' ')"
fi
vm_finish
