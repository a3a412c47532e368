/* init=1: the shim stays as the container's init, with the workload as its child. */
#include "shim/init.h"

#include "shim/exec.h"
#include "shim/protocol.h"
#include "shim/report.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIGNAL_EXIT_BASE 128 /* the shell's encoding of "killed by signal N" */

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

/* The exit code that tells the supervisor how the workload ended. The shim cannot die of the
 * same signal instead: PID 1 of a pid namespace ignores signals it has no handler for, even
 * its own (only SIGKILL from an ancestor namespace gets through). */
static int exit_code(int status) {
    if (WIFSIGNALED(status)) {
        return SIGNAL_EXIT_BASE + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

/* Reaps every child that has ended; returns when none is left waiting. */
static void reap(pid_t workload) {
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == workload) {
            _exit(exit_code(status));
        }
        if (pid == 0 || (pid < 0 && errno != EINTR)) {
            return;
        }
    }
}

_Noreturn void shim_run_init(char* const* argv) {
    /* Everything stays blocked in the init: signals are taken with sigwaitinfo, so there is
     * no handler and no race. Blocked signals also reach PID 1 of a pid namespace, which drops
     * unblocked ones that have no handler. */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        shim_fail(errno, "set child subreaper", NULL);
    }

    pid_t workload = fork();
    if (workload < 0) {
        shim_fail(errno, "fork", NULL);
    }
    if (workload == 0) {
        shim_exec_workload(argv);
    }
    /* The child's copy of the status fd stays open until its exec succeeds or it reports. */
    close(BERTH_SHIM_STATUS_FD);

    sigset_t waited;
    sigemptyset(&waited);
    sigaddset(&waited, SIGCHLD);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; ++i) {
        sigaddset(&waited, forwarded[i]);
    }
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&waited, &info);
        if (sig == SIGCHLD) {
            reap(workload);
        } else if (sig > 0) {
            kill(workload, sig);
        }
    }
}
