/* The workload's identity: supplementary groups, gid, uid (uid= gid= groups= keys). */
#ifndef BERTH_SHIM_CREDS_H
#define BERTH_SHIM_CREDS_H

#include "shim/spec.h"

/* When any of uid=, gid=, groups= is given: setgroups (the listed groups, else none), then
 * setresgid, then setresuid, all three ids alike. A move to a non-zero uid clears the
 * permitted and effective capabilities (capabilities(7)), so the bounding set must be
 * dropped before this. Steps: "setgroups", "setgid", "setuid". */
void shim_set_ids(const struct berth_shim_spec* spec);

#endif
