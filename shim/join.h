/* join=PID: the shim enters a running container instead of making one (an exec probe). */
#ifndef BERTH_SHIM_JOIN_H
#define BERTH_SHIM_JOIN_H

#include <sys/types.h>

/* Enters every namespace of process `pid` that differs from the shim's own (mount, uts, ipc,
 * net, cgroup, pid) in one setns(2) on its pidfd, takes its root (/proc/PID/root) as root,
 * then forks: the child, inside the pid namespace, returns to go on with the credential steps
 * and the exec; the parent waits and exits with the child's exit code (128 + N for signal
 * N). The child dies with the parent (PR_SET_PDEATHSIG), so a SIGKILL to the shim ends the
 * run inside the container too. A failed step is reported as usual (report.h). */
void shim_join(pid_t pid);

#endif
