/* Resource limits of the workload (rlimit= keys). */
#ifndef BERTH_SHIM_LIMITS_H
#define BERTH_SHIM_LIMITS_H

#include "shim/spec.h"

/* Applies every rlimit= of the spec. Runs while the shim is still root, so a hard limit can
 * be raised when the supervisor holds CAP_SYS_RESOURCE. Step: "setrlimit NOFILE". */
void shim_set_rlimits(const struct berth_shim_spec* spec);

#endif
