# rig-pid1-reboot: the rig's berth path, with the stand-in as PID 1 (berth stand-in in ./expect):
# the binary and its shared libraries run in the guest, the fleet file is in place, this probe
# runs beside PID 1 as its child, orphans are reaped, and SIGINT to PID 1 reboots the guest
# (the host asserts the ending: QMP reason guest-reset, QEMU exit 0).
. /usr/lib/berth-vm/lib.sh

if vm_wait 30 vm_pid1_handles 2; then
    vm_pass pid1_ready "PID 1 blocks or catches SIGINT"
else
    vm_fail pid1_ready "PID 1 left SIGINT at its default action for 30 s"
fi
exe=$(readlink /proc/1/exe)
cmdline=$(tr '\0' ' ' </proc/1/cmdline)
if [ "$exe" = /usr/bin/berth ]; then
    vm_pass pid1_is_berth "$cmdline"
else
    vm_fail pid1_is_berth "PID 1 is '$exe' ($cmdline)"
fi
vm_check fleet_file test -f /etc/berth/berth.toml
vm_check probe_parent test "$(awk '$1 == "PPid:" { print $2 }' /proc/$$/status)" = 1

# An orphan: its parent exits at once, it is reparented to PID 1 and must be reaped there.
orphan=$(sh -c 'sleep 0.3 >/dev/null 2>&1 & echo $!')
if vm_wait 10 sh -c "! test -e /proc/$orphan"; then
    vm_pass orphans_reaped "pid $orphan"
else
    vm_fail orphans_reaped "pid $orphan: $(cat "/proc/$orphan/stat" 2>&1)"
fi

vm_done
kill -INT 1
