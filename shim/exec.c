/* The last steps before the workload runs: signal state, then execve with a PATH search. */
#include "shim/exec.h"

#include "shim/report.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define KERNEL_SIGSET_BYTES 8 /* _NSIG / 8 on Linux: the kernel's sigset_t, not libc's */
#define SIGNAL_MAX 64

/* The kernel's struct sigaction (x86-64 and the generic layout). */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

/* Raw rt_sigaction: musl's sigaction refuses the signals it reserves (32-34) and adds work
 * for handlers; SIG_DFL needs neither. */
void shim_reset_signal_dispositions(void) {
    struct kernel_sigaction default_action = {.handler = SIG_DFL};
    for (int sig = 1; sig <= SIGNAL_MAX; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            syscall(SYS_rt_sigaction, sig, &default_action, NULL, KERNEL_SIGSET_BYTES);
        }
    }
}

static void unblock_signals(void) {
    uint64_t none = 0;
    if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, KERNEL_SIGSET_BYTES) != 0) {
        shim_fail(errno, "unblock signals", NULL);
    }
}

_Noreturn void shim_exec_workload(char* const* argv) {
    unblock_signals();
    const char* name = argv[0];
    if (strchr(name, '/') != NULL) {
        execve(name, argv, environ);
        shim_fail(errno, "execve", name);
    }

    const char* search = getenv("PATH");
    if (search == NULL) {
        search = DEFAULT_PATH;
    }
    size_t name_length = strlen(name);
    char candidate[PATH_MAX];
    char denied[PATH_MAX] = "";
    int last_error = ENOENT;
    const char* dir = search;
    for (;;) {
        size_t dir_length = strcspn(dir, ":");
        /* An empty PATH entry is the working directory. */
        const char* prefix = dir_length == 0 ? "." : dir;
        size_t prefix_length = dir_length == 0 ? 1 : dir_length;
        if (prefix_length + 1 + name_length < sizeof candidate) {
            memcpy(candidate, prefix, prefix_length);
            candidate[prefix_length] = '/';
            memcpy(candidate + prefix_length + 1, name, name_length + 1);
            execve(candidate, argv, environ);
            if (errno == EACCES) {
                memcpy(denied, candidate, strlen(candidate) + 1);
            } else if (errno != ENOENT && errno != ENOTDIR) {
                shim_fail(errno, "execve", candidate);
            }
        } else {
            last_error = ENAMETOOLONG;
        }
        dir += dir_length;
        if (*dir == '\0') {
            break;
        }
        ++dir;
    }
    if (denied[0] != '\0') {
        shim_fail(EACCES, "execve", denied);
    }
    shim_fail(last_error, "execve", name);
}
