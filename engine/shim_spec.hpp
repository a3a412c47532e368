// The engine's side of the shim contract (shim/protocol.h): a typed spec rendered to argv.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace berth {

struct rlimit_spec {
    std::string resource;              // "NOFILE", "NPROC", "CORE", ...
    std::optional<std::uint64_t> soft; // nullopt: unlimited
    std::optional<std::uint64_t> hard;
};

// One bind mount into the container (shim/protocol.h "volume="): source on the host, target
// inside the container's root. Neither may hold ':'; volume_store makes these.
struct volume_bind {
    std::string source;
    std::string target;
    bool read_only = false;

    friend bool operator==(const volume_bind&, const volume_bind&) = default;
};

// How the shim enters the overlay root (shim/protocol.h, root_switch=): pivot_root; MS_MOVE
// onto the host's "/" and chroot; or MS_MOVE onto a root template's "/" (root_template.hpp),
// which the launch passes as fd 4.
enum class shim_root_switch { pivot, move, on_template };

struct shim_spec {
    std::string name;                    // "web/2", for messages
    std::vector<std::string> namespaces; // unshared by the shim: mount uts ipc cgroup net
    std::string lower;                   // the image's shared lower dir; empty: host root
    std::string scratch;                 // mount point of the container's private tmpfs
    std::optional<std::uint64_t> scratch_size;
    std::string dev; // a ready /dev tree to bind (layer_store::dev_template); empty: built
    shim_root_switch root_switch = shim_root_switch::pivot;
    bool sched_other = false; // spawned at SCHED_FIFO: SCHED_OTHER for the workload (sched=other)
    std::vector<volume_bind> volumes; // mounted in this order (parents before children)
    std::string hostname;
    std::string cwd;
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    std::vector<gid_t> groups;
    std::vector<rlimit_spec> rlimits;
    bool keep_all_caps = false;
    bool init = false;                // the shim stays as the container's init
    std::optional<pid_t> join;        // run the command inside this running container instead
    std::vector<std::string> command; // the workload's argv
};

// argv for berth-shim: "berth-shim", the key=value words, "--", the command.
std::vector<std::string> shim_argv(const shim_spec& spec);

} // namespace berth
