/* A test probe run inside a container: tries the classic ways out of its root and prints, for
 * each, "NAME: contained (detail)" or "NAME: ESCAPED (detail)". Static musl; no libstdc++.
 *
 * usage: escape HOST_MARKER MAJOR MINOR [PROBE...]
 *   HOST_MARKER  absolute path of a file that exists on the host only
 *   MAJOR MINOR  the device number of the host's root disk
 *   PROBE        names of the probes to run (default: all)
 * or:    escape --fds
 *   prints "fds=0 1 2": the descriptors it was started with
 *
 * Every attempt runs in its own child: a changed root or new namespaces stay there. A changed
 * mount table does not (umount with CAP_SYS_ADMIN): run such probes one per container. Nothing
 * is written outside the container: the probes only mount, open, stat and read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static const char* marker;
static dev_t host_disk;

static bool reaches_host(const char* prefix) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s", prefix, marker);
    struct stat st;
    return stat(path, &st) == 0;
}

static void verdict(const char* name, bool escaped, const char* detail) {
    printf("%s: %s (%s)\n", name, escaped ? "ESCAPED" : "contained", detail);
    fflush(stdout);
}

/* chroot into a subdirectory, keep the working directory outside it, climb with "..". */
static void try_nested_chroot(void) {
    mkdir("/tmp/jail", 0755);
    int outside = open("/", O_RDONLY | O_DIRECTORY);
    if (chroot("/tmp/jail") != 0) {
        verdict("chroot", false, strerror(errno));
        return;
    }
    if (fchdir(outside) != 0) {
        verdict("chroot", false, "fchdir failed");
        return;
    }
    for (int i = 0; i < 256; ++i) {
        if (chdir("..") != 0) {
            break;
        }
    }
    int rooted = chroot(".");
    bool escaped = reaches_host("") || reaches_host(".");
    verdict("chroot", escaped, rooted == 0 ? "climbed and re-rooted" : strerror(errno));
}

static void try_umount(const char* name, int flags) {
    int result = umount2("/", flags);
    int err = errno;
    for (int i = 0; i < 64; ++i) {
        if (chdir("..") != 0) {
            break;
        }
    }
    bool escaped = reaches_host("") || (chroot(".") == 0 && reaches_host(""));
    verdict(name, escaped, result == 0 ? "unmounted" : strerror(err));
}

/* Any /proc/PID/root of a process outside the container would lead to the host's tree. */
static void try_proc_roots(void) {
    DIR* proc = opendir("/proc");
    if (proc == NULL) {
        verdict("proc-root", false, "no /proc");
        return;
    }
    int seen = 0;
    bool escaped = false;
    struct dirent* entry;
    while ((entry = readdir(proc)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') {
            continue;
        }
        char prefix[300];
        snprintf(prefix, sizeof prefix, "/proc/%s/root", entry->d_name);
        ++seen;
        escaped = escaped || reaches_host(prefix);
    }
    closedir(proc);
    char detail[64];
    snprintf(detail, sizeof detail, "%d processes looked at", seen);
    verdict("proc-root", escaped, detail);
}

/* CAP_MKNOD is in the default set: a node for the host's disk, opened and read raw. */
static void try_mknod_disk(void) {
    static const char* const places[] = {"/disk", "/tmp/disk", "/dev/disk", "/dev/shm/disk"};
    char detail[512] = "";
    bool escaped = false;
    for (size_t i = 0; i < sizeof places / sizeof places[0]; ++i) {
        const char* why = "read";
        if (mknod(places[i], S_IFBLK | 0600, host_disk) != 0) {
            why = strerror(errno);
        } else {
            int fd = open(places[i], O_RDONLY);
            char block[512];
            if (fd < 0) {
                why = strerror(errno);
            } else if (read(fd, block, sizeof block) != (ssize_t)sizeof block) {
                why = "short read";
            } else {
                escaped = true;
            }
            if (fd >= 0) {
                close(fd);
            }
            unlink(places[i]);
        }
        size_t used = strlen(detail);
        snprintf(detail + used, sizeof detail - used, "%s%s: %s", used ? ", " : "", places[i], why);
    }
    verdict("mknod-disk", escaped, detail);
}

/* "Shocker": open a host inode by handle. Needs CAP_DAC_READ_SEARCH. */
static void try_open_by_handle(void) {
    struct {
        struct file_handle handle;
        unsigned char bytes[8];
    } h = {{8, 1}, {2, 0, 0, 0, 0, 0, 0, 0}}; /* ext4: FILEID_INO32_GEN, inode 2 = the root */
    int fd = open_by_handle_at(open("/", O_RDONLY | O_DIRECTORY), &h.handle, O_RDONLY);
    verdict("open-by-handle", fd >= 0, fd >= 0 ? "opened" : strerror(errno));
}

/* With CAP_SYS_ADMIN: a tmpfs to hold a node for the host's disk, then the disk mounted (the
 * kernel shares the host's superblock: nothing is written to the device). */
static void try_mount_disk(void) {
    mkdir("/tmp/node", 0755);
    mkdir("/tmp/disk", 0755);
    if (mount("tmpfs", "/tmp/node", "tmpfs", 0, NULL) != 0) {
        verdict("mount-disk", false, strerror(errno));
        return;
    }
    if (mknod("/tmp/node/disk", S_IFBLK | 0600, host_disk) != 0) {
        verdict("mount-disk", false, strerror(errno));
        return;
    }
    if (mount("/tmp/node/disk", "/tmp/disk", "ext4", 0, NULL) != 0) {
        verdict("mount-disk", false, strerror(errno));
        return;
    }
    verdict("mount-disk", reaches_host("/tmp/disk"), "mounted the host's disk");
}

static bool write_file(const char* path, const char* text) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        return false;
    }
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok;
}

/* A user namespace (no capability needed) owning new mount, pid and net namespaces, root
 * mapped to root: the kernel lets it mount a fresh proc or sysfs only if a fully visible
 * one already exists in the mount namespace. A fresh one has none of the read-only
 * overmounts, so its host-wide files (sysctls, /sys/kernel) open for writing. Nothing is
 * written to them. */
static void try_userns_mount(const char* name, const char* type, const char* probe) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET) != 0) {
        verdict(name, false, strerror(errno));
        return;
    }
    if (!write_file("/proc/self/setgroups", "deny") || !write_file("/proc/self/uid_map", "0 0 1") ||
        !write_file("/proc/self/gid_map", "0 0 1")) {
        verdict(name, false, "id maps refused");
        return;
    }
    pid_t child = fork();
    if (child == 0) {
        char dir[64];
        snprintf(dir, sizeof dir, "/tmp/fresh-%s", type);
        mkdir(dir, 0755);
        if (mount(type, dir, type, 0, NULL) != 0) {
            verdict(name, false, strerror(errno));
            _exit(0);
        }
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, probe);
        int fd = open(path, O_WRONLY);
        verdict(name, fd >= 0,
                fd >= 0 ? "fresh mount, host-wide file open for writing"
                        : "fresh mount, but nothing writable");
        _exit(0);
    }
    waitpid(child, NULL, 0);
}

struct probe {
    const char* name;
    void (*run)(void);
};

static void try_umount_plain(void) {
    try_umount("umount", 0);
}

static void try_umount_lazy(void) {
    try_umount("umount-lazy", MNT_DETACH);
}

static void try_userns_proc(void) {
    try_userns_mount("userns-proc", "proc", "sys/vm/stat_interval");
}

static void try_userns_sysfs(void) {
    try_userns_mount("userns-sysfs", "sysfs", "kernel/rcu_expedited");
}

/* The open descriptors, without the one reading the directory. */
static int print_fds(void) {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == NULL) {
        perror("escape: opendir /proc/self/fd");
        return 1;
    }
    printf("fds=");
    const char* separator = "";
    struct dirent* entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] != '.' && atoi(entry->d_name) != dirfd(dir)) {
            printf("%s%s", separator, entry->d_name);
            separator = " ";
        }
    }
    printf("\n");
    closedir(dir);
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 2 && strcmp(argv[1], "--fds") == 0) {
        return print_fds();
    }
    if (argc < 4) {
        fprintf(stderr, "usage: escape HOST_MARKER MAJOR MINOR [PROBE...] | escape --fds\n");
        return 2;
    }
    marker = argv[1];
    host_disk = makedev((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]));
    if (reaches_host("")) {
        verdict("start", true, "the marker is visible before trying anything");
    }
    const struct probe probes[] = {
        {"chroot", try_nested_chroot},          {"umount", try_umount_plain},
        {"umount-lazy", try_umount_lazy},       {"proc-root", try_proc_roots},
        {"mknod-disk", try_mknod_disk},         {"mount-disk", try_mount_disk},
        {"open-by-handle", try_open_by_handle}, {"userns-proc", try_userns_proc},
        {"userns-sysfs", try_userns_sysfs},
    };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; ++i) {
        bool wanted = argc == 4;
        for (int a = 4; a < argc; ++a) {
            wanted = wanted || strcmp(argv[a], probes[i].name) == 0;
        }
        if (!wanted) {
            continue;
        }
        pid_t child = fork();
        if (child == 0) {
            probes[i].run();
            _exit(0);
        }
        waitpid(child, NULL, 0);
    }
    return 0;
}
