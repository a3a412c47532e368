/* Resource limits of the workload (rlimit= keys). */
#include "shim/limits.h"

#include "shim/report.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void shim_set_rlimits(const struct berth_shim_spec* spec) {
    for (int i = 0; i < spec->rlimit_count; ++i) {
        const struct berth_shim_rlimit* limit = &spec->rlimits[i];
        /* UINT64_MAX is RLIM_INFINITY on every 64-bit Linux ABI. */
        struct rlimit value = {.rlim_cur = limit->soft, .rlim_max = limit->hard};
        if (syscall(SYS_prlimit64, 0, limit->resource, &value, NULL) != 0) {
            shim_fail(errno, "setrlimit", limit->name);
        }
    }
}
