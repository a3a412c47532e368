/* The container's file system tree: everything the shim mounts, and the switch of root. */
#include "shim/mounts.h"

#include "shim/protocol.h"
#include "shim/report.h"
#include "shim/volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PROC_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define MOUNT_DATA_MAX 4096 /* mount(2) copies at most one page of options */

/* Paths below are relative to the working directory, the new root; `shown` is the absolute
 * path the container will see, used in step names ("mount /proc"). */
static const char* relative(const char* shown) {
    return shown + 1;
}

/* Mounts a kernel file system on a directory of the new root, creating the directory in the
 * upper layer when the image lacks it: a failed mount only when it is missing, instead of a
 * mkdir on every start. */
static void mount_in_root(const char* type, const char* shown, unsigned long flags,
                          const char* data) {
    const char* target = relative(shown);
    if (mount(type, target, type, flags, data) == 0) {
        return;
    }
    if (errno == ENOENT && mkdir(target, 0755) == 0 &&
        mount(type, target, type, flags, data) == 0) {
        return;
    }
    shim_fail(errno, "mount", shown);
}

static void make_private(void) {
    /* Nothing mounted from here on may propagate to the host, nor the host's to us. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        shim_fail(errno, "make mounts private", NULL);
    }
}

static void append(char* buffer, size_t* used, const char* text) {
    size_t length = strlen(text);
    if (*used + length >= MOUNT_DATA_MAX) {
        shim_fail(ENAMETOOLONG, "mount", "overlay");
    }
    memcpy(buffer + *used, text, length + 1);
    *used += length;
}

/* scratch: a tmpfs holding upper/, work/ and root/, private to this mount namespace, so it
 * vanishes with the container and the host has nothing to clean. Leaves cwd at root/. */
static void mount_overlay_root(const struct berth_shim_spec* spec) {
    char data[MOUNT_DATA_MAX] = "mode=0755";
    size_t used = strlen(data);
    if (spec->scratch_size != NULL) {
        append(data, &used, ",size=");
        append(data, &used, spec->scratch_size);
    }
    if (mount("tmpfs", spec->scratch, "tmpfs", MS_NOSUID | MS_NODEV, data) != 0) {
        shim_fail(errno, "mount scratch", spec->scratch);
    }
    if (chdir(spec->scratch) != 0) {
        shim_fail(errno, "chdir", spec->scratch);
    }
    static const char* const dirs[] = {"upper", "work", "root"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; ++i) {
        if (mkdir(dirs[i], 0755) != 0) {
            shim_fail(errno, "mkdir scratch", dirs[i]);
        }
    }

    /* upperdir and workdir relative to the cwd: overlayfs resolves them like open(2). */
    used = 0;
    append(data, &used, "lowerdir=");
    append(data, &used, spec->lower);
    append(data, &used, ",upperdir=upper,workdir=work");
    /* nodev: a device node the container creates (it may hold CAP_MKNOD) never opens. */
    if (mount("overlay", "root", "overlay", MS_NODEV, data) != 0) {
        shim_fail(errno, "mount overlay", NULL);
    }
    if (chdir("root") != 0) {
        shim_fail(errno, "chdir", "root");
    }
}

/* Read-only binds over the /proc entries that reach the whole machine rather than the
 * container: most sysctls, the magic SysRq key, IRQ affinity, ACPI wakeup are writable by
 * uid 0 without any capability. These binds also make this /proc "not fully visible", so a
 * user namespace created inside cannot mount a fresh, unprotected proc (mount_too_revealing).
 * Entries the kernel lacks are skipped. */
static void protect_proc(void) {
    static const char* const shown[] = {
        "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs", "/proc/acpi"};
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; ++i) {
        const char* path = relative(shown[i]);
        if (mount(path, path, NULL, MS_BIND, NULL) != 0) {
            if (errno == ENOENT) {
                continue;
            }
            shim_fail(errno, "bind", shown[i]);
        }
        if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | PROC_FLAGS, NULL) != 0) {
            shim_fail(errno, "remount read-only", shown[i]);
        }
    }
}

/* "/dev/NAME" in `shown`, the path the container will see. */
static const char* in_dev(char shown[static 32], const char* name) {
    if ((size_t)snprintf(shown, 32, "/dev/%s", name) >= 32) {
        shim_fail(ENAMETOOLONG, "/dev entry", name);
    }
    return shown;
}

/* berth_dev_nodes, _dirs and _links (shim/protocol.h) on the tmpfs at dev/. */
static void fill_dev(void) {
    char shown[32];
    for (size_t i = 0; i < sizeof berth_dev_nodes / sizeof berth_dev_nodes[0]; ++i) {
        const struct berth_dev_node* n = &berth_dev_nodes[i];
        if (mknod(relative(in_dev(shown, n->name)), S_IFCHR | 0666, makedev(n->major, n->minor)) !=
            0) {
            shim_fail(errno, "mknod", shown);
        }
    }
    for (size_t i = 0; i < sizeof berth_dev_dirs / sizeof berth_dev_dirs[0]; ++i) {
        if (mkdir(relative(in_dev(shown, berth_dev_dirs[i])), 0755) != 0) {
            shim_fail(errno, "mkdir", shown);
        }
    }
    for (size_t i = 0; i < sizeof berth_dev_links / sizeof berth_dev_links[0]; ++i) {
        const struct berth_dev_link* l = &berth_dev_links[i];
        if (symlink(l->target, relative(in_dev(shown, l->name))) != 0) {
            shim_fail(errno, "symlink", shown);
        }
    }
}

/* What each container has of its own under /dev, whichever tree holds the nodes. */
static void mount_dev_private(void) {
    /* newinstance: the container's own pty numbering, never the host's (implied since 4.7). */
    mount_in_root("devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620,gid=5");
    mount_in_root("tmpfs", "/dev/shm", PROC_FLAGS, "mode=1777,size=65536k");
}

/* A minimal /dev, read-only: with CAP_MKNOD in the default set and no device cgroup, a
 * writable /dev would let the container create and open the host's disks. With dev= it is a
 * bind of the supervisor's ready tree (the same nodes, read-only in its superblock; about
 * 15 us instead of 130 us of building); without, it is built on a tmpfs of its own, which
 * needs umask 0 (the node modes are exact). Either way the container gets its own devpts
 * and /dev/shm. */
static void mount_dev(const struct berth_shim_spec* spec) {
    if (spec->dev != NULL) {
        if (mount(spec->dev, "dev", NULL, MS_BIND, NULL) != 0) {
            int err = errno;
            /* ENOENT: the image may lack /dev (made in the upper layer), or the tree is
             * missing (mkdir then fails with EEXIST, and ENOENT is the answer). */
            if (err == ENOENT && mkdir("dev", 0755) == 0) {
                err = mount(spec->dev, "dev", NULL, MS_BIND, NULL) == 0 ? 0 : errno;
            }
            if (err != 0) {
                shim_fail(err, "bind /dev from", spec->dev);
            }
        }
        if (mount(NULL, "dev", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
                  NULL) != 0) {
            shim_fail(errno, "remount read-only", "/dev");
        }
        mount_dev_private();
        return;
    }
    mount_in_root("tmpfs", "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755");
    fill_dev();
    if (mount(NULL, "dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) != 0) {
        shim_fail(errno, "remount read-only", "/dev");
    }
    mount_dev_private();
}

/* For root_switch=move: the host's /proc and /sys stay mounted under the new root, fully
 * visible, and a user namespace created in the container (no capability needed) may then
 * mount a fresh, unprotected proc or sysfs (the kernel's mount_too_revealing test passes)
 * and write host-wide sysctls and sysfs files. A read-only tmpfs over each, in this mount
 * namespace only, makes them "not fully visible". Instances elsewhere in the host's tree are
 * not covered (docs/shim.md). */
static void cover_host_kernel_fs(void) {
    static const char* const host[] = {"/proc", "/sys"};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; ++i) {
        if (mount("tmpfs", host[i], "tmpfs", MS_RDONLY | PROC_FLAGS, "size=4k,mode=0") != 0 &&
            errno != ENOENT) {
            shim_fail(errno, "cover host", host[i]);
        }
    }
}

/* sysfs read-only: cheap (it shares the superblock of the net namespace's sysfs) and
 * expected by many programs; read-only because its writable files tune the host. With its
 * own cgroup namespace the container also gets its cgroup, read-only, at /sys/fs/cgroup (the
 * limits runtimes such as the JVM read there); without one that mount would show the host's
 * whole hierarchy, so there is none. */
static void mount_sys(const struct berth_shim_spec* spec) {
    mount_in_root("sysfs", "/sys", MS_RDONLY | PROC_FLAGS, NULL);
    if ((spec->ns_flags & CLONE_NEWCGROUP) != 0 &&
        mount("cgroup2", "sys/fs/cgroup", "cgroup2", MS_RDONLY | PROC_FLAGS, NULL) != 0) {
        shim_fail(errno, "mount", "/sys/fs/cgroup");
    }
}

static void switch_root(enum berth_shim_root_switch how) {
    if (how == BERTH_SHIM_ROOT_PIVOT) {
        /* pivot_root(2)'s own idiom: the old root ends up stacked on ".", then detached
         * whole, so no path and no mount of the host's tree is left in this namespace. */
        if (syscall(SYS_pivot_root, ".", ".") != 0) {
            shim_fail(errno, "pivot_root", NULL);
        }
        if (umount2(".", MNT_DETACH) != 0) {
            shim_fail(errno, "detach old root", NULL);
        }
        return;
    }
    /* The new root is stacked on the namespace's "/": with root_switch=move the host's, which
     * stays mounted underneath (".." at the top of the new root leads back into it; see
     * docs/shim.md for what remains); with root_switch=template the root template's, an
     * empty read-only tmpfs holding only the image's lower layers, the /dev tree and this
     * container's scratch, so nothing of the host is underneath. */
    if (how == BERTH_SHIM_ROOT_MOVE) {
        cover_host_kernel_fs();
    }
    if (mount(".", "/", NULL, MS_MOVE, NULL) != 0) {
        shim_fail(errno, "move root", NULL);
    }
    if (chroot(".") != 0) {
        shim_fail(errno, "chroot", NULL);
    }
}

void shim_enter_root_template(const struct berth_shim_spec* spec) {
    if (spec->root_switch != BERTH_SHIM_ROOT_TEMPLATE) {
        return;
    }
    /* Root and cwd become the template's "/"; the unshare that follows copies its few mounts
     * instead of the supervisor's whole table. */
    if (setns(BERTH_SHIM_ROOT_NS_FD, CLONE_NEWNS) != 0) {
        shim_fail(errno, "enter root template", NULL);
    }
    close(BERTH_SHIM_ROOT_NS_FD);
}

void shim_setup_mounts(const struct berth_shim_spec* spec) {
    if ((spec->ns_flags & CLONE_NEWNS) == 0) {
        return;
    }
    make_private();

    if (spec->lower == NULL) {
        /* The host's tree, but /proc showing the container's own processes. */
        if (getpid() == 1 && mount("proc", "/proc", "proc", PROC_FLAGS, NULL) != 0) {
            shim_fail(errno, "mount", "/proc");
        }
        /* Volumes over the host's own paths, which must exist: nothing is created there. */
        if (spec->volume_count > 0) {
            int host_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (host_root < 0) {
                shim_fail(errno, "open", "/");
            }
            shim_mount_volumes(spec, host_root, false);
            close(host_root);
        }
        return;
    }

    mode_t saved_umask = umask(0);
    mount_overlay_root(spec);

    /* Volumes first (their mounts were copied before any namespace change); before /proc,
     * /dev and /sys, which volume_store keeps them out of. */
    if (spec->volume_count > 0) {
        int new_root = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (new_root < 0) {
            shim_fail(errno, "open", "new root");
        }
        shim_mount_volumes(spec, new_root, true);
        close(new_root);
    }

    /* proc shows the pid namespace of the mounter: the container's. */
    mount_in_root("proc", "/proc", PROC_FLAGS, NULL);
    protect_proc();
    mount_dev(spec);
    mount_sys(spec);
    umask(saved_umask);

    switch_root(spec->root_switch);
}
