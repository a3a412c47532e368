/* Capabilities and no_new_privs: what the workload may still do as (or become from) root. */
#include "shim/caps.h"

#include "shim/report.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Numbers from linux/capability.h (a stable ABI; musl ships no kernel headers). */
enum {
    cap_chown = 0,
    cap_dac_override = 1,
    cap_fowner = 3,
    cap_fsetid = 4,
    cap_kill = 5,
    cap_setgid = 6,
    cap_setuid = 7,
    cap_setpcap = 8,
    cap_net_bind_service = 10,
    cap_net_raw = 13,
    cap_sys_chroot = 18,
    cap_mknod = 27,
    cap_audit_write = 29,
    cap_setfcap = 31,
    cap_count_max = 64, /* the kernel's sets are two 32-bit words */
};

#define BIT(cap) (UINT64_C(1) << (cap))

const uint64_t shim_default_caps = BIT(cap_chown) | BIT(cap_dac_override) | BIT(cap_fowner) |
                                   BIT(cap_fsetid) | BIT(cap_kill) | BIT(cap_setgid) |
                                   BIT(cap_setuid) | BIT(cap_setpcap) | BIT(cap_net_bind_service) |
                                   BIT(cap_net_raw) | BIT(cap_sys_chroot) | BIT(cap_mknod) |
                                   BIT(cap_audit_write) | BIT(cap_setfcap);

#define CAPABILITY_VERSION_3 0x20080522

struct cap_header {
    uint32_t version;
    int pid;
};

struct cap_data {
    uint32_t effective;
    uint32_t permitted;
    uint32_t inheritable;
};

void shim_drop_bounding_set(const struct berth_shim_spec* spec) {
    if (spec->caps == BERTH_SHIM_CAPS_ALL) {
        return;
    }
    for (int cap = 0; cap < cap_count_max; ++cap) {
        if ((shim_default_caps & BIT(cap)) != 0) {
            continue;
        }
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            /* EINVAL past the kernel's last capability: every one is dropped. Saves reading
             * /proc/sys/kernel/cap_last_cap. */
            if (errno == EINVAL && cap > cap_setfcap) {
                return;
            }
            shim_fail(errno, "drop bounding set", NULL);
        }
    }
}

void shim_set_capabilities(const struct berth_shim_spec* spec) {
    struct cap_header header = {CAPABILITY_VERSION_3, 0};
    struct cap_data data[2];
    if (syscall(SYS_capget, &header, data) != 0) {
        shim_fail(errno, "capget", NULL);
    }
    uint64_t wanted = spec->caps == BERTH_SHIM_CAPS_ALL ? UINT64_MAX : shim_default_caps;
    for (int word = 0; word < 2; ++word) {
        uint32_t keep = (uint32_t)(wanted >> (32 * word));
        data[word].permitted &= keep;
        data[word].effective = data[word].permitted;
        /* None inheritable: with an inheritable set, exec of a file carrying inheritable
         * file capabilities would regain them (CVE-2022-24769, fixed the same way in moby
         * and runc). */
        data[word].inheritable = 0;
    }
    if (syscall(SYS_capset, &header, data) != 0) {
        shim_fail(errno, "capset", NULL);
    }
}

void shim_set_no_new_privs(void) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        shim_fail(errno, "no_new_privs", NULL);
    }
}
