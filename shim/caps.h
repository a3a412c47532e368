/* Capabilities and no_new_privs: what the workload may still do as (or become from) root. */
#ifndef BERTH_SHIM_CAPS_H
#define BERTH_SHIM_CAPS_H

#include <stdint.h>

#include "shim/spec.h"

/* The Docker/OCI default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
 * NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP (0x00000000a80425fb). */
extern const uint64_t shim_default_caps;

/* caps=default: drops every capability outside the default set from the bounding set, so no
 * later exec can gain it. Needs CAP_SETPCAP: runs before the uid changes.
 * Step: "drop bounding set". */
void shim_drop_bounding_set(const struct berth_shim_spec* spec);

/* Permitted = effective = what the shim still holds of the wanted set (nothing after a move
 * to a non-zero uid), inheritable = none, which also clears the ambient set (capset(2) keeps
 * ambient within permitted & inheritable). Step: "capset". */
void shim_set_capabilities(const struct berth_shim_spec* spec);

/* PR_SET_NO_NEW_PRIVS: execve never grants privileges again (setuid bits, file
 * capabilities). Step: "no_new_privs". */
void shim_set_no_new_privs(void);

#endif
