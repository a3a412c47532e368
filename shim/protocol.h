/* The contract between the supervisor (engine/spawn) and berth-shim: how the container spec
 * reaches the shim and how a failed setup step comes back. Plain C, shared by both sides.
 *
 * Spec: the shim's argv. argv[0] is the shim's name, then zero or more "key=value" words,
 * then the word "--", then the workload's argv (its first word is the program to exec,
 * looked up in PATH of the container when it has no '/'). The shim's environment is the
 * workload's environment, passed through unchanged. Each key at most once (rlimit= and
 * volume= may repeat); an unknown key, a bad value or a missing "--" is a failed step
 * "spec: ...".
 *
 *   name=web/2          who this is, for messages
 *   sched=other         the shim was spawned at SCHED_FIFO (engine/spawn.hpp, start_priority
 *                       = "realtime"): it does its setup at that priority and switches to
 *                       SCHED_OTHER (keeping the nice value) right before the workload (or,
 *                       with init=1, before forking it)
 *   ns=mount,uts,...    namespaces the shim unshares itself (any of mount uts ipc cgroup net);
 *                       the pid namespace, if any, comes from clone3 in the supervisor
 *                       ("pid" here is an error); no user namespace
 *   lower=DIR           read-only lower directory of the root (the image's shared mount);
 *                       DIR:DIR... stacks several, uppermost first; needs ns=mount;
 *                       absent: the container keeps the host's root
 *   scratch=DIR         an existing, empty directory on which the shim mounts a private
 *                       tmpfs holding the overlay's upper and work dirs and the merged root;
 *                       it lives only in the container's mount namespace; needed by lower=
 *   scratch_size=BYTES  size limit of that tmpfs (default: the kernel's, half of RAM)
 *   dev=DIR             a ready /dev tree (berth_dev_nodes, _dirs, _links below, read-only)
 *                       to bind on /dev instead of building one on a tmpfs; needs lower=
 *   root_switch=pivot   pivot_root (default); "move" (MS_MOVE onto / and chroot; weaker, see
 *                       docs/shim.md); or "template": fd 4 (BERTH_SHIM_ROOT_NS_FD) is a mount
 *                       namespace holding only an empty read-only root with lower=, dev= and
 *                       scratch= at their paths (engine/root_template.hpp); the shim enters it
 *                       before it unshares, so its copy holds nothing of the host's tree, and
 *                       moves the new root onto it and chroots, without pivot_root
 *   volume=SRC:DST[:ro] a bind mount of the host path SRC (a directory or a file) at DST in
 *                       the container, nosuid and nodev, read-only with ":ro" (":rw", the
 *                       default, may be written); repeatable, up to 64, mounted in order
 *                       (parents before children); needs ns=mount. With lower= a missing DST
 *                       is created in the upper layer; without, DST must exist on the host.
 *                       DST is resolved inside the container's root, so a symlink in the
 *                       image cannot lead it out; neither path may hold ':'
 *   hostname=NAME       set in the container's uts namespace (needs ns=uts)
 *   cwd=DIR             working directory inside the container (default /), entered after
 *                       the uid change
 *   uid=N gid=N         credentials for the workload (default: stay root)
 *   groups=N,N,...      supplementary groups (default: none once uid/gid are set)
 *   rlimit=RES:SOFT:HARD  one resource limit, RES as in NOFILE, NPROC, CORE... (any case);
 *                       repeatable, once per RES; SOFT and HARD are numbers or "inf"
 *   caps=default        "default" (the Docker/OCI default set) or "all" (keep every cap)
 *   init=0              1: the shim stays as the container's init (PID 1 of its pid
 *                       namespace), forks the workload, forwards SIGTERM SIGINT SIGHUP
 *                       SIGQUIT SIGUSR1 SIGUSR2 to it and reaps every orphan
 *   join=PID            enter the running container whose first process is PID (its
 *                       namespaces, its root) instead of making one, fork, and run the
 *                       workload there as a child of the shim: an exec probe. Takes none of
 *                       ns=, lower=, volume=, hostname=, init=1; the credential keys apply.
 *                       The shim exits with the child's code (128 + N for signal N) and the
 *                       child dies with the shim
 *
 * Status: fd 3 (BERTH_SHIM_STATUS_FD) is the write end of a close-on-exec pipe (the shim
 * sets close-on-exec on it again itself, since a dup2 into place clears it). A failed step
 * writes one struct berth_shim_failure (atomic: smaller than PIPE_BUF) and the shim exits
 * with BERTH_SHIM_EXIT_FAILED. A successful exec of the workload closes the pipe, so the
 * supervisor reads end-of-file with no record: the container is running. With init=1 the
 * forked workload reports its own exec failure the same way before the pipe closes.
 *
 * Exit status: the workload's own (the shim became it by execve); with init=1 the workload's
 * exit code, or 128 + N when signal N killed it. BERTH_SHIM_EXIT_FAILED with a record: a
 * step failed. The same code without a record is the workload's own exit code (a shell's
 * "command not found"): the record, not the code, tells a failed start.
 */
#ifndef BERTH_SHIM_PROTOCOL_H
#define BERTH_SHIM_PROTOCOL_H

#include <stdint.h>

#define BERTH_SHIM_STATUS_FD 3
#define BERTH_SHIM_ROOT_NS_FD 4 /* root_switch=template: the root template's mount namespace */
#define BERTH_SHIM_EXIT_FAILED 127
#define BERTH_SHIM_STEP_MAX 120

struct berth_shim_failure {
    int32_t error;                  /* errno of the failing call; 0 for a bad spec */
    char step[BERTH_SHIM_STEP_MAX]; /* e.g. "pivot_root", "execve /bin/httpd"; NUL-terminated */
    uint32_t reserved;
};

/* A container's minimal /dev, whoever builds it: the shim on a tmpfs of its own, or the
 * supervisor once, for dev= (engine/layer_store.cpp). Names are relative to /dev; the nodes
 * are character devices of mode 0666, the directories (mount points of the container's own
 * devpts and tmpfs) of mode 0755. */
struct berth_dev_node {
    const char* name;
    unsigned major;
    unsigned minor;
};
struct berth_dev_link {
    const char* name;
    const char* target;
};
static const struct berth_dev_node berth_dev_nodes[] = {{"null", 1, 3},    {"zero", 1, 5},
                                                        {"full", 1, 7},    {"random", 1, 8},
                                                        {"urandom", 1, 9}, {"tty", 5, 0}};
static const char* const berth_dev_dirs[] = {"pts", "shm"};
static const struct berth_dev_link berth_dev_links[] = {{"ptmx", "pts/ptmx"},
                                                        {"fd", "/proc/self/fd"},
                                                        {"stdin", "/proc/self/fd/0"},
                                                        {"stdout", "/proc/self/fd/1"},
                                                        {"stderr", "/proc/self/fd/2"}};

#endif
