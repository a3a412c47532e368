# rig-boot: the guest kernel has what berth needs, cgroup2 with its controllers and overlay.
# PID 1 of the guest (via /init). Each check reports a marker; the host judges them (./expect).
. /usr/lib/berth-vm/lib.sh

release=$(uname -r)
vm_value kernel "$release"
if [ "$release" = "$BERTH_VM_KERNEL_RELEASE" ]; then
    vm_pass kernel_version "$release $(uname -v)"
else
    vm_fail kernel_version "booted '$release', the rig prepared '$BERTH_VM_KERNEL_RELEASE'"
fi
vm_value root_fs "$(awk '$2 == "/" { fs = $3 } END { print fs }' /proc/mounts)"

# cgroup v2 with every controller berth's limits use.
vm_check cgroup2_mount mount -t cgroup2 cgroup2 /sys/fs/cgroup
controllers=$(cat /sys/fs/cgroup/cgroup.controllers)
vm_value controllers "$(echo $controllers | tr ' ' ,)"
for controller in cpu memory pids io cpuset; do
    case " $controllers " in
    *" $controller "*) vm_pass "controller_$controller" ;;
    *) vm_fail "controller_$controller" "not in cgroup.controllers '$controllers'" ;;
    esac
done
vm_check subtree_control sh -c \
    'echo "+cpu +memory +pids +io +cpuset" >/sys/fs/cgroup/cgroup.subtree_control'

# overlay: loaded by /init, mounted over the busybox layer, a program run from the merged tree.
layer=/var/lib/berth/layers/busybox
vm_check overlay_module grep -q '^overlay ' /proc/modules
mkdir -p /run/ov
mount -t tmpfs tmpfs /run/ov
mkdir /run/ov/upper /run/ov/work /run/ov/merged
vm_check overlay_mount mount -t overlay overlay \
    -o "lowerdir=$layer,upperdir=/run/ov/upper,workdir=/run/ov/work" /run/ov/merged
vm_check overlay_layer_runs chroot /run/ov/merged /bin/sh -c 'echo up >/tmp/copy-up && uname -r'
vm_check overlay_copy_up sh -c "test -f /run/ov/upper/tmp/copy-up && test ! -e $layer/tmp/copy-up"

# pivot_root into the overlay in a new mount namespace, as berth-shim's root switch may do:
# EINVAL if the rig had left PID 1 on the initramfs rootfs (expect: root tmpfs, the default).
vm_check pivot_root unshare -m sh -c \
    'mount --make-rprivate / && cd /run/ov/merged && mkdir -p .old && pivot_root . .old &&
     umount -l /.old && /bin/busybox true'
umount /run/ov/merged
umount /run/ov

vm_done
vm_poweroff
