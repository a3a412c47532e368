/* The shim's spec: its argv (see protocol.h) parsed and checked, before any system call. */
#ifndef BERTH_SHIM_SPEC_H
#define BERTH_SHIM_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BERTH_SHIM_GROUPS_MAX 64
#define BERTH_SHIM_RLIMITS_MAX 16 /* RLIMIT_NLIMITS on Linux: one entry per resource */
#define BERTH_SHIM_VOLUMES_MAX 64

enum berth_shim_root_switch {
    BERTH_SHIM_ROOT_PIVOT,
    BERTH_SHIM_ROOT_MOVE,
    BERTH_SHIM_ROOT_TEMPLATE /* MS_MOVE over the root template at BERTH_SHIM_ROOT_NS_FD */
};
enum berth_shim_caps { BERTH_SHIM_CAPS_DEFAULT, BERTH_SHIM_CAPS_ALL };

struct berth_shim_rlimit {
    int resource;     /* RLIMIT_* */
    const char* name; /* "NOFILE", as it appears in the step name "setrlimit NOFILE" */
    uint64_t soft;    /* UINT64_MAX (RLIM_INFINITY) for "inf" */
    uint64_t hard;
};

/* One volume= word: both paths point into it and are not NUL-terminated (lengths given). */
struct berth_shim_volume {
    const char* source; /* absolute host path */
    size_t source_length;
    const char* target; /* absolute path inside the container, never "/" */
    size_t target_length;
    bool read_only;
};

/* Every string points into the parsed argv: nothing is allocated, nothing needs freeing. */
struct berth_shim_spec {
    const char* name;         /* "" when absent */
    bool sched_other;         /* sched=other: leave the supervisor's SCHED_FIFO first */
    int ns_flags;             /* CLONE_NEW* flags for unshare(2) */
    const char* lower;        /* NULL: the container keeps the host's root */
    const char* scratch;      /* set whenever lower is */
    const char* scratch_size; /* decimal bytes, or NULL for the tmpfs default */
    const char* dev;          /* a ready /dev tree to bind, or NULL: the shim builds one */
    enum berth_shim_root_switch root_switch;
    bool root_switch_given; /* only to refuse root_switch= without lower= */
    const char* hostname;   /* NULL: keep */
    const char* cwd;        /* NULL: "/" */
    bool set_uid, set_gid, set_groups;
    uid_t uid;
    gid_t gid;
    int group_count;
    gid_t groups[BERTH_SHIM_GROUPS_MAX];
    int rlimit_count;
    struct berth_shim_rlimit rlimits[BERTH_SHIM_RLIMITS_MAX];
    int volume_count;
    struct berth_shim_volume volumes[BERTH_SHIM_VOLUMES_MAX]; /* mounted in this order */
    enum berth_shim_caps caps;
    bool init;             /* stay as the container's init and fork the workload */
    pid_t join;            /* > 0: enter this running container instead (join.h) */
    char* const* workload; /* NULL-terminated, at least one non-empty word */
};

/* What is wrong with a spec: a fixed description and the offending argv word (NULL when the
 * problem is no single word). what == NULL means the spec is valid. */
struct berth_shim_spec_error {
    const char* what;
    const char* word;
};

/* Parses argv[1..argc) (argv[argc] must be NULL, as for main) into *spec, which needs no
 * initialisation. Checks each value and the combinations that would otherwise fail late or
 * touch the host (lower= without ns=mount, hostname= without ns=uts). */
struct berth_shim_spec_error berth_shim_spec_parse(struct berth_shim_spec* spec, int argc,
                                                   char** argv);

#ifdef __cplusplus
}
#endif

#endif
