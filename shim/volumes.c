/* Volumes: resolving each target inside the container's root, then bind and remount. */
#include "shim/volumes.h"

#include "shim/report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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

/* The flags a bind of the source must keep: a remount may not clear them (the kernel refuses
 * to for locked mounts), and a volume should not lift a noexec its host mount has. */
static unsigned long kept_flags(int source_fd) {
    struct statvfs st;
    if (fstatvfs(source_fd, &st) != 0) {
        return 0;
    }
    unsigned long flags = 0;
    flags |= (st.f_flag & ST_RDONLY) != 0 ? MS_RDONLY : 0;
    flags |= (st.f_flag & ST_NOEXEC) != 0 ? MS_NOEXEC : 0;
    flags |= (st.f_flag & ST_NOATIME) != 0 ? MS_NOATIME : 0;
    flags |= (st.f_flag & ST_NODIRATIME) != 0 ? MS_NODIRATIME : 0;
    flags |= (st.f_flag & ST_RELATIME) != 0 ? MS_RELATIME : 0;
    return flags;
}

static void mount_volume(const struct berth_shim_volume* v, int root_fd, bool create) {
    char source[PATH_MAX];
    char target[PATH_MAX];
    copy_path(source, v->source, v->source_length, "source");
    copy_path(target, v->target, v->target_length, "target");

    int source_fd = open(source, O_PATH | O_CLOEXEC);
    struct stat st;
    if (source_fd < 0 || fstat(source_fd, &st) != 0) {
        shim_fail(errno, "open volume", source);
    }
    int target_fd = resolve_target(root_fd, target, S_ISDIR(st.st_mode), create);

    /* By descriptor: nothing between the resolution and the mount can move the target. The
     * magic links are the host's /proc, still mounted here before the root switch. */
    char from[64];
    char to[64];
    snprintf(from, sizeof from, "/proc/self/fd/%d", source_fd);
    snprintf(to, sizeof to, "/proc/self/fd/%d", target_fd);
    if (mount(from, to, NULL, MS_BIND, NULL) != 0) {
        shim_fail(errno, "bind volume", target);
    }
    close(target_fd);

    /* The fd still names the covered directory: the remount needs the new mount's root,
     * which the same walk now reaches. */
    target_fd = resolve_target(root_fd, target, S_ISDIR(st.st_mode), false);
    struct stat mounted;
    if (fstat(target_fd, &mounted) != 0) {
        shim_fail(errno, "volume target", target);
    }
    if (mounted.st_dev != st.st_dev || mounted.st_ino != st.st_ino) {
        shim_fail(EXDEV, "volume target moved", target);
    }
    snprintf(to, sizeof to, "/proc/self/fd/%d", target_fd);
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | kept_flags(source_fd);
    if (v->read_only) {
        flags |= MS_RDONLY;
    }
    if (mount(NULL, to, NULL, flags, NULL) != 0) {
        shim_fail(errno, "remount volume", target);
    }
    close(target_fd);
    close(source_fd);
}

void shim_mount_volumes(const struct berth_shim_spec* spec, int root_fd, bool create) {
    for (int i = 0; i < spec->volume_count; ++i) {
        mount_volume(&spec->volumes[i], root_fd, create);
    }
}
