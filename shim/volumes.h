/* Volumes: bind mounts of host directories or files into the container's tree. */
#ifndef BERTH_SHIM_VOLUMES_H
#define BERTH_SHIM_VOLUMES_H

#include "shim/spec.h"

/* Opens every volume= source of the spec and makes a detached copy of its mount (open_tree),
 * while the shim still sees the host's tree: before any namespace change. */
void shim_open_volumes(const struct berth_shim_spec* spec);

/* Attaches the copies shim_open_volumes made, in order, each at its target below root_fd
 * (the new root before the switch, or the host's "/" without lower=). With create set, a
 * missing target is made (directories 0755, or an empty file for a file source) where the
 * container's writes land, its upper layer. The target is resolved as if root_fd were the
 * root (symlinks followed inside it, ".." stopping at it), so a symlink in the image can
 * never point it at the host. Each bind is nosuid and nodev, and read-only with ":ro"; flags
 * the source's mount already has (noexec, ro, atime) are kept. Reports the failing step and
 * exits on any error. */
void shim_mount_volumes(const struct berth_shim_spec* spec, int root_fd, bool create);

#endif
