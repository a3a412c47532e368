/* The last steps before the workload runs: signal state, then execve with a PATH search. */
#ifndef BERTH_SHIM_EXEC_H
#define BERTH_SHIM_EXEC_H

/* Every disposition back to SIG_DFL. Handlers would be reset by execve anyway, but SIG_IGN
 * survives it, and the supervisor may ignore some signals (SIGPIPE). */
void shim_reset_signal_dispositions(void);

/* Unblocks every signal (the supervisor clones with all of them blocked), then execs
 * argv[0] with the shim's own environment: as given when it holds a '/', else found in the
 * environment's PATH (or /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin), as
 * execvp(3) does but without its /bin/sh retry on ENOEXEC. Returns only by exiting, after
 * reporting "execve PATH" (the file that failed; argv[0] when no candidate exists). */
_Noreturn void shim_exec_workload(char* const* argv);

#endif
