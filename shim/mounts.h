/* The container's file system tree: everything the shim mounts, and the switch of root. */
#ifndef BERTH_SHIM_MOUNTS_H
#define BERTH_SHIM_MOUNTS_H

#include "shim/spec.h"

/* Runs before unshare(2): with root_switch=template, enters the root template's mount
 * namespace (fd BERTH_SHIM_ROOT_NS_FD), which the unshare then copies. */
void shim_enter_root_template(const struct berth_shim_spec* spec);

/* Runs after unshare(2). With ns=mount: makes every mount private. With lower=: mounts the
 * private scratch tmpfs, the overlay root on it, the volumes, /proc, /dev and /sys inside
 * that root, then switches into it (pivot_root or MS_MOVE + chroot); the working directory is
 * left at the new root. Without lower= but with a mount namespace and PID 1 of a pid
 * namespace: a fresh /proc over the host's; volumes then go over existing host paths.
 * Reports the failing step and exits on any error. */
void shim_setup_mounts(const struct berth_shim_spec* spec);

#endif
