/* join=PID: enter a running container's namespaces and root, for a command run inside it. */
#include "shim/join.h"

#include "shim/protocol.h"
#include "shim/report.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIGNAL_EXIT_BASE 128

static const struct {
    const char* name; /* in /proc/PID/ns */
    int flag;
} kinds[] = {
    {"mnt", CLONE_NEWNS},  {"uts", CLONE_NEWUTS},       {"ipc", CLONE_NEWIPC},
    {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID},
};

/* The namespaces of `pid` that are not the shim's: setns(2) on a pidfd enters all it is given,
 * and entering one's own user-visible namespace again is harmless but pointless. */
static int differing_namespaces(pid_t pid) {
    int flags = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; ++i) {
        char theirs[64];
        char mine[64];
        snprintf(theirs, sizeof theirs, "/proc/%d/ns/%s", (int)pid, kinds[i].name);
        snprintf(mine, sizeof mine, "/proc/self/ns/%s", kinds[i].name);
        struct stat a;
        struct stat b;
        if (stat(theirs, &a) != 0) {
            shim_fail(errno, "join: stat", theirs);
        }
        if (stat(mine, &b) != 0) {
            shim_fail(errno, "join: stat", mine);
        }
        if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
            flags |= kinds[i].flag;
        }
    }
    return flags;
}

static int exit_code(int status) {
    if (WIFSIGNALED(status)) {
        return SIGNAL_EXIT_BASE + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

void shim_join(pid_t pid) {
    char root_path[64];
    snprintf(root_path, sizeof root_path, "/proc/%d/root", (int)pid);
    /* Opened before the setns, from the host's /proc: the container's root as its first
     * process sees it, whether it got there by pivot_root or by MS_MOVE and chroot. */
    int root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        shim_fail(errno, "join: open", root_path);
    }
    int target = (int)syscall(SYS_pidfd_open, pid, 0);
    if (target < 0) {
        shim_fail(errno, "join: pidfd_open", NULL);
    }
    int flags = differing_namespaces(pid);
    if (flags != 0 && setns(target, flags) != 0) {
        shim_fail(errno, "join: setns", NULL);
    }
    close(target);
    if (fchdir(root) != 0 || chroot(".") != 0) {
        shim_fail(errno, "join: chroot", root_path);
    }
    close(root);

    /* Whether the shim itself is still there, for the child: a SIGKILL that lands before the
     * child has set its death signal would otherwise leave it running unwatched. */
    int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (self < 0) {
        shim_fail(errno, "join: pidfd_open", "self");
    }
    pid_t child = fork(); /* the child is the first process of ours in the pid namespace */
    if (child < 0) {
        shim_fail(errno, "fork", NULL);
    }
    if (child == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
            shim_fail(errno, "join: set death signal", NULL);
        }
        struct pollfd gone = {.fd = self, .events = POLLIN};
        if (poll(&gone, 1, 0) != 0) {
            _exit(SIGNAL_EXIT_BASE + SIGKILL); /* the shim died before the signal was set */
        }
        close(self);
        return;
    }
    close(self);
    /* The child's copy of the status fd reports its steps; this one has nothing more to say. */
    close(BERTH_SHIM_STATUS_FD);
    for (;;) {
        int status;
        if (waitpid(child, &status, 0) == child) {
            _exit(exit_code(status));
        }
        if (errno != EINTR) {
            shim_fail(errno, "waitpid", NULL);
        }
    }
}
