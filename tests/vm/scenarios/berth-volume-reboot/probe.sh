# berth-volume-reboot: runs beside berth (PID 1) in the guest's root namespaces, in each of the
# scenario's two boots (vm_boot says which). It checks that storage_dir is the rig's disk, waits
# for the keeper's line of this boot, then reads the named volume's file on the disk: boot 1
# finds its own line only, boot 2 finds boot 1's line unchanged and its own after it (the host
# compares first_line between the boots). Then SIGTERM to PID 1: berth must stop the fleet,
# sync and unmount, and power off; the probe itself syncs nothing.
. /usr/lib/berth-vm/lib.sh

boot=$(vm_boot)
boots=/var/lib/berth/volumes/data/boots
log=/run/berth/logs/keeper/0.log
me="boot $boot $(cat /proc/sys/kernel/random/boot_id)"

vm_wait_berth "boot $boot"

# mountinfo: field 5 the mount point, then after " - " the type and the source.
mount_line=$(awk '$5 == "/var/lib/berth"' /proc/self/mountinfo)
case $mount_line in
*" - ext4 /dev/vda rw"*) vm_pass disk_mounted "$mount_line" ;;
*) vm_fail disk_mounted "/var/lib/berth is not /dev/vda ext4 rw: '${mount_line:-no mount}'" ;;
esac

# The keeper writes the volume first, then prints: once its line is in the log, the file has it.
printed() {
    grep -qFx "$me" "$log"
}
if vm_wait 60 printed; then
    vm_pass service_printed "$me"
else
    vm_fail service_printed "no line '$me' in '$log' after 60 s: $(cat "$log" 2>&1)"
    vm_finish
fi

lines=$(wc -l <"$boots" 2>&1)
first=$(sed -n 1p "$boots" 2>&1)
second=$(sed -n 2p "$boots" 2>&1)
content=$(tr '\n' '|' <"$boots" 2>&1)
vm_value first_line "$first"
case $boot in
1)
    if [ "$lines" = 1 ] && [ "$first" = "$me" ]; then
        vm_pass one_line "$boots: $content"
    else
        vm_fail one_line "$boots: $lines lines, expected 1, '$me': $content"
    fi
    ;;
2)
    # Boot 1's line: its tag and another boot id (36 characters, a UUID), then this boot's.
    if [ "$lines" = 2 ] && [ "$second" = "$me" ] && [ "$first" != "$second" ] &&
        echo "$first" | grep -qE '^boot 1 [0-9a-f-]{36}$'; then
        vm_pass two_lines "$boots: $content"
    else
        vm_fail two_lines "$boots: $lines lines, expected 2, 'boot 1 <other id>' then '$me':" \
            "$content"
    fi
    ;;
*)
    vm_fail boot_number "boot '$boot': the scenario boots twice"
    ;;
esac
vm_finish
