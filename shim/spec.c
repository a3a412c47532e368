/* Parsing and checking the shim's argv spec (keys in protocol.h); no system calls. */
#include "shim/spec.h"

#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#define HOSTNAME_MAX 64    /* HOST_NAME_MAX on Linux */
#define ID_MAX 4294967294u /* (uid_t)-1 means "unchanged" to the kernel: not a valid id */

struct number {
    bool ok;
    uint64_t value;
};

/* A decimal number without sign, spaces or leading zeros (except "0"), at most max. */
static struct number parse_number(const char* text, size_t length, uint64_t max) {
    struct number n = {false, 0};
    if (length == 0 || length > 20 || (text[0] == '0' && length > 1)) {
        return n;
    }
    for (size_t i = 0; i < length; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return n;
        }
        uint64_t digit = (uint64_t)(text[i] - '0');
        if (n.value > (max - digit) / 10) {
            return n;
        }
        n.value = n.value * 10 + digit;
    }
    n.ok = true;
    return n;
}

/* Absolute, and free of the characters that would split a mount option string. */
static bool is_mount_path(const char* path) {
    return path[0] == '/' && strpbrk(path, ",\\") == NULL;
}

static bool same_word(const char* text, size_t length, const char* word) {
    return strlen(word) == length && memcmp(text, word, length) == 0;
}

static const char* parse_ns(struct berth_shim_spec* spec, const char* value) {
    static const struct {
        const char* name;
        int flag;
    } kinds[] = {{"mount", CLONE_NEWNS},
                 {"uts", CLONE_NEWUTS},
                 {"ipc", CLONE_NEWIPC},
                 {"cgroup", CLONE_NEWCGROUP},
                 {"net", CLONE_NEWNET}};
    const char* item = value;
    while (*item != '\0') {
        size_t length = strcspn(item, ",");
        int flag = 0;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; ++k) {
            if (same_word(item, length, kinds[k].name)) {
                flag = kinds[k].flag;
            }
        }
        if (flag == 0) {
            return same_word(item, length, "pid") ? "ns: pid comes from the supervisor's clone3"
                                                  : "ns: unknown namespace";
        }
        spec->ns_flags |= flag;
        item += length;
        if (*item == ',') {
            ++item;
            if (*item == '\0') {
                return "ns: empty namespace name";
            }
        }
    }
    return NULL;
}

static const char* parse_lower(struct berth_shim_spec* spec, const char* value) {
    /* ':' is allowed: several lower layers, uppermost first, as overlayfs takes them. */
    if (!is_mount_path(value)) {
        return "lower: not an absolute path without ',' or '\\'";
    }
    spec->lower = value;
    return NULL;
}

static const char* parse_scratch(struct berth_shim_spec* spec, const char* value) {
    if (!is_mount_path(value) || strchr(value, ':') != NULL) {
        return "scratch: not an absolute path without ',', ':' or '\\'";
    }
    spec->scratch = value;
    return NULL;
}

static const char* parse_dev(struct berth_shim_spec* spec, const char* value) {
    if (!is_mount_path(value)) {
        return "dev: not an absolute path without ',' or '\\'";
    }
    spec->dev = value;
    return NULL;
}

static const char* parse_scratch_size(struct berth_shim_spec* spec, const char* value) {
    struct number n = parse_number(value, strlen(value), UINT64_MAX);
    /* tmpfs reads size=0 as "no limit": refuse it rather than surprise. */
    if (!n.ok || n.value == 0) {
        return "scratch_size: not a positive number of bytes";
    }
    spec->scratch_size = value;
    return NULL;
}

static const char* parse_sched(struct berth_shim_spec* spec, const char* value) {
    if (strcmp(value, "other") != 0) {
        return "sched: not \"other\"";
    }
    spec->sched_other = true;
    return NULL;
}

static const char* parse_root_switch(struct berth_shim_spec* spec, const char* value) {
    spec->root_switch_given = true;
    if (strcmp(value, "pivot") == 0) {
        spec->root_switch = BERTH_SHIM_ROOT_PIVOT;
    } else if (strcmp(value, "move") == 0) {
        spec->root_switch = BERTH_SHIM_ROOT_MOVE;
    } else if (strcmp(value, "template") == 0) {
        spec->root_switch = BERTH_SHIM_ROOT_TEMPLATE;
    } else {
        return "root_switch: not \"pivot\", \"move\" or \"template\"";
    }
    return NULL;
}

static const char* parse_hostname(struct berth_shim_spec* spec, const char* value) {
    size_t length = strlen(value);
    if (length == 0 || length > HOSTNAME_MAX) {
        return "hostname: empty or longer than 64 bytes";
    }
    spec->hostname = value;
    return NULL;
}

static const char* parse_cwd(struct berth_shim_spec* spec, const char* value) {
    if (value[0] != '/') {
        return "cwd: not an absolute path";
    }
    spec->cwd = value;
    return NULL;
}

static const char* parse_uid(struct berth_shim_spec* spec, const char* value) {
    struct number n = parse_number(value, strlen(value), ID_MAX);
    if (!n.ok) {
        return "uid: not a number below 4294967295";
    }
    spec->uid = (uid_t)n.value;
    spec->set_uid = true;
    return NULL;
}

static const char* parse_gid(struct berth_shim_spec* spec, const char* value) {
    struct number n = parse_number(value, strlen(value), ID_MAX);
    if (!n.ok) {
        return "gid: not a number below 4294967295";
    }
    spec->gid = (gid_t)n.value;
    spec->set_gid = true;
    return NULL;
}

static const char* parse_groups(struct berth_shim_spec* spec, const char* value) {
    spec->set_groups = true;
    spec->group_count = 0;
    const char* item = value;
    while (*item != '\0') {
        size_t length = strcspn(item, ",");
        struct number n = parse_number(item, length, ID_MAX);
        if (!n.ok) {
            return "groups: not a list of numbers below 4294967295";
        }
        if (spec->group_count == BERTH_SHIM_GROUPS_MAX) {
            return "groups: more than 64";
        }
        spec->groups[spec->group_count++] = (gid_t)n.value;
        item += length;
        if (*item == ',' && *++item == '\0') {
            return "groups: trailing ','";
        }
    }
    return NULL;
}

/* One limit: a number, or "inf" for RLIM_INFINITY. */
static struct number parse_limit(const char* text, size_t length) {
    if (same_word(text, length, "inf")) {
        struct number n = {true, UINT64_MAX};
        return n;
    }
    return parse_number(text, length, UINT64_MAX - 1);
}

static const char* parse_rlimit(struct berth_shim_spec* spec, const char* value) {
    static const struct {
        const char* name;
        int resource;
    } resources[] = {
        {"CPU", RLIMIT_CPU},           {"FSIZE", RLIMIT_FSIZE},
        {"DATA", RLIMIT_DATA},         {"STACK", RLIMIT_STACK},
        {"CORE", RLIMIT_CORE},         {"RSS", RLIMIT_RSS},
        {"NPROC", RLIMIT_NPROC},       {"NOFILE", RLIMIT_NOFILE},
        {"MEMLOCK", RLIMIT_MEMLOCK},   {"AS", RLIMIT_AS},
        {"LOCKS", RLIMIT_LOCKS},       {"SIGPENDING", RLIMIT_SIGPENDING},
        {"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE},
        {"RTPRIO", RLIMIT_RTPRIO},     {"RTTIME", RLIMIT_RTTIME},
    };
    size_t name_length = strcspn(value, ":");
    const char* soft_text = value + name_length;
    if (*soft_text != ':') {
        return "rlimit: not RES:SOFT:HARD";
    }
    ++soft_text;
    size_t soft_length = strcspn(soft_text, ":");
    const char* hard_text = soft_text + soft_length;
    if (*hard_text != ':') {
        return "rlimit: not RES:SOFT:HARD";
    }
    ++hard_text;

    struct berth_shim_rlimit limit = {-1, NULL, 0, 0};
    for (size_t r = 0; r < sizeof resources / sizeof resources[0]; ++r) {
        if (strlen(resources[r].name) == name_length &&
            strncasecmp(value, resources[r].name, name_length) == 0) {
            limit.resource = resources[r].resource;
            limit.name = resources[r].name;
        }
    }
    if (limit.name == NULL) {
        return "rlimit: unknown resource";
    }

    struct number soft = parse_limit(soft_text, soft_length);
    struct number hard = parse_limit(hard_text, strlen(hard_text));
    if (!soft.ok || !hard.ok) {
        return "rlimit: limit neither a number nor \"inf\"";
    }
    if (soft.value > hard.value) {
        return "rlimit: soft limit above hard limit";
    }
    limit.soft = soft.value;
    limit.hard = hard.value;

    for (int i = 0; i < spec->rlimit_count; ++i) {
        if (spec->rlimits[i].resource == limit.resource) {
            return "rlimit: resource given twice";
        }
    }
    spec->rlimits[spec->rlimit_count++] = limit; /* fits: one entry per distinct resource */
    return NULL;
}

/* SRC:DST or SRC:DST:ro / SRC:DST:rw. Paths cannot hold ':' (config refuses it), so the
 * split is unambiguous. DST has no "." or ".." component: the shim resolves it inside the
 * container's root anyway, but a plain path keeps step names honest. */
static const char* parse_volume(struct berth_shim_spec* spec, const char* value) {
    struct berth_shim_volume v = {value, strcspn(value, ":"), NULL, 0, false};
    if (value[v.source_length] != ':') {
        return "volume: not SRC:DST[:ro]";
    }
    v.target = value + v.source_length + 1;
    v.target_length = strcspn(v.target, ":");
    const char* mode = v.target + v.target_length;
    if (*mode == ':') {
        ++mode;
        if (strcmp(mode, "ro") == 0) {
            v.read_only = true;
        } else if (strcmp(mode, "rw") != 0) {
            return "volume: mode neither \"ro\" nor \"rw\"";
        }
    }
    if (v.source_length < 2 || v.source[0] != '/' || v.target_length < 2 || v.target[0] != '/') {
        return "volume: source or target not an absolute path other than /";
    }
    for (size_t at = 1; at <= v.target_length;) {
        size_t length = strcspn(v.target + at, "/:");
        if (length > v.target_length - at) {
            length = v.target_length - at;
        }
        if (length == 0 || same_word(v.target + at, length, ".") ||
            same_word(v.target + at, length, "..")) {
            return "volume: target with an empty, \".\" or \"..\" component";
        }
        at += length + 1;
    }
    if (spec->volume_count == BERTH_SHIM_VOLUMES_MAX) {
        return "volume: more than 64";
    }
    spec->volumes[spec->volume_count++] = v;
    return NULL;
}

static const char* parse_caps(struct berth_shim_spec* spec, const char* value) {
    if (strcmp(value, "default") == 0) {
        spec->caps = BERTH_SHIM_CAPS_DEFAULT;
    } else if (strcmp(value, "all") == 0) {
        spec->caps = BERTH_SHIM_CAPS_ALL;
    } else {
        return "caps: neither \"default\" nor \"all\"";
    }
    return NULL;
}

static const char* parse_init(struct berth_shim_spec* spec, const char* value) {
    if (strcmp(value, "0") == 0) {
        spec->init = false;
    } else if (strcmp(value, "1") == 0) {
        spec->init = true;
    } else {
        return "init: neither 0 nor 1";
    }
    return NULL;
}

static const char* parse_join(struct berth_shim_spec* spec, const char* value) {
    struct number n = parse_number(value, strlen(value), 4194304); /* PID_MAX_LIMIT */
    if (!n.ok || n.value == 0) {
        return "join: not a process id";
    }
    spec->join = (pid_t)n.value;
    return NULL;
}

static const char* parse_name(struct berth_shim_spec* spec, const char* value) {
    spec->name = value;
    return NULL;
}

typedef const char* (*key_parser)(struct berth_shim_spec*, const char*);

static const struct {
    const char* key;
    key_parser parse;
    bool repeatable;
} keys[] = {
    {"name", parse_name, false},
    {"sched", parse_sched, false},
    {"ns", parse_ns, false},
    {"lower", parse_lower, false},
    {"scratch", parse_scratch, false},
    {"scratch_size", parse_scratch_size, false},
    {"dev", parse_dev, false},
    {"root_switch", parse_root_switch, false},
    {"hostname", parse_hostname, false},
    {"cwd", parse_cwd, false},
    {"uid", parse_uid, false},
    {"gid", parse_gid, false},
    {"groups", parse_groups, false},
    {"rlimit", parse_rlimit, true},
    {"volume", parse_volume, true},
    {"caps", parse_caps, false},
    {"init", parse_init, false},
    {"join", parse_join, false},
};

static struct berth_shim_spec_error spec_error(const char* what, const char* word) {
    struct berth_shim_spec_error e = {what, word};
    return e;
}

/* Combinations of keys that are each valid alone. */
static const char* check_combination(const struct berth_shim_spec* spec) {
    /* A joined container is already set up: only the credentials and the command are ours. */
    if (spec->join != 0 && (spec->ns_flags != 0 || spec->lower != NULL || spec->volume_count > 0 ||
                            spec->hostname != NULL || spec->init)) {
        return "join= takes none of ns=, lower=, volume=, hostname=, init=1";
    }
    if (spec->lower != NULL && spec->scratch == NULL) {
        return "lower= needs scratch=";
    }
    if (spec->lower == NULL && (spec->scratch != NULL || spec->scratch_size != NULL)) {
        return "scratch= needs lower=";
    }
    if (spec->lower == NULL && spec->dev != NULL) {
        return "dev= needs lower=";
    }
    if (spec->lower == NULL && spec->root_switch_given) {
        return "root_switch= needs lower=";
    }
    if (spec->lower != NULL && (spec->ns_flags & CLONE_NEWNS) == 0) {
        return "lower= needs ns=mount";
    }
    if (spec->volume_count > 0 && (spec->ns_flags & CLONE_NEWNS) == 0) {
        return "volume= needs ns=mount";
    }
    if (spec->hostname != NULL && (spec->ns_flags & CLONE_NEWUTS) == 0) {
        return "hostname= needs ns=uts";
    }
    return NULL;
}

struct berth_shim_spec_error berth_shim_spec_parse(struct berth_shim_spec* spec, int argc,
                                                   char** argv) {
    static const struct berth_shim_spec empty = {.name = ""};
    *spec = empty;

    unsigned seen = 0;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; ++i) {
        const char* equals = strchr(argv[i], '=');
        if (equals == NULL) {
            return spec_error("expected key=value", argv[i]);
        }
        size_t key_length = (size_t)(equals - argv[i]);
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && !same_word(argv[i], key_length, keys[k].key)) {
            ++k;
        }
        if (k == sizeof keys / sizeof keys[0]) {
            return spec_error("unknown key", argv[i]);
        }
        if (!keys[k].repeatable && (seen & (1u << k)) != 0) {
            return spec_error("key given twice", argv[i]);
        }
        seen |= 1u << k;
        const char* what = keys[k].parse(spec, equals + 1);
        if (what != NULL) {
            return spec_error(what, argv[i]);
        }
    }
    if (i >= argc) { /* >=: argc may be 0 when a caller execs with an empty argv */
        return spec_error("missing \"--\" before the workload", NULL);
    }
    if (i + 1 == argc) {
        return spec_error("no workload after \"--\"", NULL);
    }
    if (argv[i + 1][0] == '\0') {
        return spec_error("empty workload program", NULL);
    }
    spec->workload = argv + i + 1;
    return spec_error(check_combination(spec), NULL);
}
