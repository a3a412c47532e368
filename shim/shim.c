/* berth-shim: the first program of every container; finishes its setup, then runs the
 * workload. The contract with the supervisor is protocol.h; the steps are docs/shim.md. */
#include "shim/caps.h"
#include "shim/creds.h"
#include "shim/exec.h"
#include "shim/init.h"
#include "shim/join.h"
#include "shim/limits.h"
#include "shim/mounts.h"
#include "shim/net.h"
#include "shim/protocol.h"
#include "shim/report.h"
#include "shim/spec.h"
#include "shim/volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* First of all, so no fd the supervisor leaked (a directory of the host would be a way out
 * of the new root) survives even the setup. fd 3 is marked close-on-exec here as well, since
 * a dup2 into place would have cleared the flag: the supervisor's end-of-file must come with
 * the workload's exec. close_range: Linux 5.9. Runs after the parse, which alone touches
 * nothing: the spec says whether fd 4 is to be kept. */
static void close_inherited_fds(const struct berth_shim_spec* spec) {
    /* root_switch=template: fd 4 is the template's namespace, closed once entered. */
    int keep = spec->root_switch == BERTH_SHIM_ROOT_TEMPLATE ? BERTH_SHIM_ROOT_NS_FD
                                                             : BERTH_SHIM_STATUS_FD;
    if (syscall(SYS_close_range, keep + 1, ~0U, 0) != 0) {
        shim_fail(errno, "close_range", NULL);
    }
    fcntl(BERTH_SHIM_STATUS_FD, F_SETFD, FD_CLOEXEC);
}

/* sched=other: the supervisor spawned the shim at SCHED_FIFO (start_priority = "realtime"),
 * so that the setup runs to its end without being preempted by the other starts; the
 * workload, and an init=1 shim that stays beside it, run at SCHED_OTHER (the nice value is
 * kept). Lowering the priority needs no capability, so this comes after the others are
 * dropped. musl's sched_setscheduler() is a stub (ENOSYS), hence the system call. */
static void leave_spawn_priority(const struct berth_shim_spec* spec) {
    struct sched_param none = {0};
    if (spec->sched_other && syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &none) != 0) {
        shim_fail(errno, "set scheduling policy", "SCHED_OTHER");
    }
}

static void unshare_namespaces(const struct berth_shim_spec* spec) {
    if (spec->ns_flags != 0 && unshare(spec->ns_flags) != 0) {
        shim_fail(errno, "unshare", NULL);
    }
    if ((spec->ns_flags & CLONE_NEWNET) != 0) {
        shim_bring_up_loopback();
    }
}

static void set_hostname(const struct berth_shim_spec* spec) {
    if (spec->hostname != NULL && sethostname(spec->hostname, strlen(spec->hostname)) != 0) {
        shim_fail(errno, "sethostname", NULL);
    }
}

/* After the uid change, so the workload never starts in a directory it could not enter. */
static void enter_cwd(const struct berth_shim_spec* spec) {
    const char* cwd = spec->cwd != NULL ? spec->cwd : "/";
    if (chdir(cwd) != 0) {
        shim_fail(errno, "chdir", cwd);
    }
}

int main(int argc, char** argv) {
    struct berth_shim_spec spec;
    struct berth_shim_spec_error bad = berth_shim_spec_parse(&spec, argc, argv);
    shim_report_set_name(spec.name); /* "" or what name= said, even in a bad spec */
    if (bad.what != NULL) {
        shim_fail_spec(bad.what, bad.word);
    }

    close_inherited_fds(&spec);

    if (spec.join != 0) {
        shim_join(spec.join);
    } else {
        shim_open_volumes(&spec);

        shim_enter_root_template(&spec);

        unshare_namespaces(&spec);

        shim_setup_mounts(&spec);

        set_hostname(&spec);
    }

    shim_set_rlimits(&spec);

    shim_drop_bounding_set(&spec);

    shim_set_ids(&spec);

    shim_set_capabilities(&spec);

    enter_cwd(&spec);

    shim_set_no_new_privs();

    shim_reset_signal_dispositions();

    leave_spawn_priority(&spec);

    if (spec.init) {
        shim_run_init(spec.workload);
    }
    shim_exec_workload(spec.workload);
}
