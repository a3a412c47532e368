/* The workload's identity: supplementary groups, gid, uid (uid= gid= groups= keys). */
#include "shim/creds.h"

#include "shim/report.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Raw system calls rather than musl's wrappers: those broadcast the change to every thread
 * (__synccall, with its signal masking); the shim has one thread. */
void shim_set_ids(const struct berth_shim_spec* spec) {
    if (!spec->set_uid && !spec->set_gid && !spec->set_groups) {
        return;
    }
    if (syscall(SYS_setgroups, (size_t)spec->group_count, spec->groups) != 0) {
        shim_fail(errno, "setgroups", NULL);
    }
    if (spec->set_gid && syscall(SYS_setresgid, spec->gid, spec->gid, spec->gid) != 0) {
        shim_fail(errno, "setgid", NULL);
    }
    if (spec->set_uid && syscall(SYS_setresuid, spec->uid, spec->uid, spec->uid) != 0) {
        shim_fail(errno, "setuid", NULL);
    }
}
