/* Volumes: a detached copy of each source's mount, attached at its target resolved inside the
 * container's root. */
#include "shim/volumes.h"

#include "shim/report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void copy_path(char* out, const char* text, size_t length, const char* shown) {
    if (length >= PATH_MAX) {
        shim_fail(ENAMETOOLONG, "volume", shown);
    }
    memcpy(out, text, length);
    out[length] = '\0';
}

#define LINKS_MAX 40 /* symlinks followed while resolving one target, as the kernel's */
#define DEPTH_MAX 128

/* The target's fd (O_PATH), resolved component by component below root_fd the way a chroot
 * would: a symlink's target is read and resolved in its place (an absolute one from the
 * root), and ".." never climbs above the root, so a symlink in the image cannot lead the
 * target to the host. With `create`, a missing component is made (a directory, or an empty
 * file for the last one when the source is a file) in the directory the walk reached, by
 * name and with O_NOFOLLOW semantics, so nothing is created through a symlink. */
static int resolve_target(int root_fd, const char* target, bool is_dir, bool create) {
    char path[2 * PATH_MAX];
    char link[PATH_MAX];
    int dirs[DEPTH_MAX];
    int depth = 0;
    int links = 0;
    snprintf(path, sizeof path, "%s", target);
    char* rest = path;
    dirs[0] = root_fd;
    while (1) {
        while (*rest == '/') {
            ++rest;
        }
        if (*rest == '\0') {
            break;
        }
        char* end = rest + strcspn(rest, "/");
        bool last = end[strspn(end, "/")] == '\0';
        char saved = *end;
        *end = '\0';
        if (strcmp(rest, ".") == 0 || strcmp(rest, "..") == 0) {
            if (rest[1] == '.' && depth > 0) {
                close(dirs[depth--]);
            }
            *end = saved;
            rest = end;
            continue;
        }
        int fd = openat(dirs[depth], rest, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
            if (last && !is_dir) {
                int made = openat(dirs[depth], rest,
                                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (made >= 0) {
                    close(made);
                }
            } else if (mkdirat(dirs[depth], rest, 0755) != 0 && errno != EEXIST) {
                shim_fail(errno, "mkdir volume target", target);
            }
            fd = openat(dirs[depth], rest, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        }
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            shim_fail(errno, "volume target", target);
        }
        *end = saved;
        if (S_ISLNK(st.st_mode)) {
            ssize_t length = readlinkat(fd, "", link, sizeof link - 1);
            close(fd);
            if (length < 0 || ++links > LINKS_MAX) {
                shim_fail(length < 0 ? errno : ELOOP, "volume target", target);
            }
            link[length] = '\0';
            char joined[2 * PATH_MAX];
            if ((size_t)snprintf(joined, sizeof joined, "%s/%s", link, end) >= sizeof joined) {
                shim_fail(ENAMETOOLONG, "volume target", target);
            }
            memcpy(path, joined, strlen(joined) + 1);
            rest = path;
            if (link[0] == '/') {
                while (depth > 0) {
                    close(dirs[depth--]);
                }
            }
            continue;
        }
        if (!last && !S_ISDIR(st.st_mode)) {
            shim_fail(ENOTDIR, "volume target", target);
        }
        if (last && S_ISDIR(st.st_mode) != is_dir) {
            shim_fail(is_dir ? ENOTDIR : EISDIR, "volume target", target);
        }
        if (depth + 1 == DEPTH_MAX) {
            shim_fail(ENAMETOOLONG, "volume target", target);
        }
        dirs[++depth] = fd;
        rest = end;
    }
    if (depth == 0) {
        shim_fail(EINVAL, "volume target is the root", target);
    }
    int result = dirs[depth];
    while (depth > 1) {
        close(dirs[--depth]);
    }
    return result;
}

/* The new mount API (Linux 5.2, mount_setattr 5.12); musl has no wrappers or constants. */
#define SHIM_OPEN_TREE_CLONE 1
#define SHIM_MOVE_MOUNT_F_EMPTY_PATH 0x04
#define SHIM_MOVE_MOUNT_T_EMPTY_PATH 0x40
#define SHIM_MOUNT_ATTR_RDONLY 0x1
#define SHIM_MOUNT_ATTR_NOSUID 0x2
#define SHIM_MOUNT_ATTR_NODEV 0x4
struct shim_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

/* One detached copy of each source's mount, made while the shim still sees the host's tree;
 * attached later below the container's root, whatever namespace the shim is in by then. */
static int trees[BERTH_SHIM_VOLUMES_MAX];
static bool tree_is_dir[BERTH_SHIM_VOLUMES_MAX];

void shim_open_volumes(const struct berth_shim_spec* spec) {
    for (int i = 0; i < spec->volume_count; ++i) {
        const struct berth_shim_volume* v = &spec->volumes[i];
        char source[PATH_MAX];
        copy_path(source, v->source, v->source_length, "source");
        int source_fd = open(source, O_PATH | O_CLOEXEC);
        struct stat st;
        if (source_fd < 0 || fstat(source_fd, &st) != 0) {
            shim_fail(errno, "open volume", source);
        }
        tree_is_dir[i] = S_ISDIR(st.st_mode);
        /* Not recursive, as MS_BIND: mounts below the source stay out. The copy keeps the
         * flags of the source's mount (ro, noexec, atime), which a volume must not lift. */
        trees[i] = (int)syscall(SYS_open_tree, source_fd, "",
                                SHIM_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
        if (trees[i] < 0) {
            shim_fail(errno, "clone volume", source);
        }
        close(source_fd);
    }
}

static void mount_volume(const struct berth_shim_volume* v, int index, int root_fd,
                         bool create) {
    char target[PATH_MAX];
    copy_path(target, v->target, v->target_length, "target");
    int target_fd = resolve_target(root_fd, target, tree_is_dir[index], create);

    struct shim_mount_attr attr = {.attr_set = SHIM_MOUNT_ATTR_NOSUID | SHIM_MOUNT_ATTR_NODEV};
    if (v->read_only) {
        attr.attr_set |= SHIM_MOUNT_ATTR_RDONLY;
    }
    if (syscall(SYS_mount_setattr, trees[index], "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
        shim_fail(errno, "remount volume", target);
    }
    /* By descriptor: nothing between the resolution and the mount can move the target. */
    if (syscall(SYS_move_mount, trees[index], "", target_fd, "",
                SHIM_MOVE_MOUNT_F_EMPTY_PATH | SHIM_MOVE_MOUNT_T_EMPTY_PATH) != 0) {
        shim_fail(errno, "bind volume", target);
    }
    close(target_fd);
    close(trees[index]);
}

void shim_mount_volumes(const struct berth_shim_spec* spec, int root_fd, bool create) {
    for (int i = 0; i < spec->volume_count; ++i) {
        mount_volume(&spec->volumes[i], i, root_fd, create);
    }
}
