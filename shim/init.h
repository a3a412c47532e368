/* init=1: the shim stays as the container's init, with the workload as its child. */
#ifndef BERTH_SHIM_INIT_H
#define BERTH_SHIM_INIT_H

/* Runs after every other step (the init keeps the workload's credentials, capabilities and
 * no_new_privs). Forks; the child unblocks signals and execs argv as shim_exec_workload does,
 * reporting an exec failure through the status fd itself. The parent closes its copy of the
 * status fd, then waits with every signal blocked: SIGTERM SIGINT SIGHUP SIGQUIT SIGUSR1
 * SIGUSR2 are forwarded to the workload, SIGCHLD reaps every child. When the workload ends,
 * exits with its exit code, or 128 + signal number when a signal killed it. When not PID 1
 * (no pid namespace), it becomes a child subreaper so orphans still come to it. */
_Noreturn void shim_run_init(char* const* argv);

#endif
