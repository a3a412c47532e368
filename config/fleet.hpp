// The fleet as loaded from TOML: plain value structs with every default filled in.
//
// Vocabulary: a *service* is one [service.NAME] entry; a *replica* is one instance of it
// (web/0, web/1, ...); an *image* is an ordered stack of layer directories. Everything here
// is validated by the loader (config/loader.hpp): a fleet you get from it satisfies every
// invariant written in the comments below. docs/config.md documents each key.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::config {

// Every duration in the fleet. Always >= 0 and small enough to convert to nanoseconds.
using duration = std::chrono::milliseconds;

// The cgroup v2 CPU period berth writes with cpu.max: quotas are microseconds per this.
inline constexpr std::uint64_t cpu_period_us = 100'000;

// A cgroup limit that is either a number or "max" (explicitly no limit). Whether the key was
// given at all is the std::optional around it: an absent key writes nothing (and so needs no
// controller), "max" writes "max".
class limit_value {
public:
    static constexpr limit_value max() noexcept { return limit_value(true, 0); }
    static constexpr limit_value of(std::uint64_t amount) noexcept {
        return limit_value(false, amount);
    }

    constexpr bool is_max() const noexcept { return is_max_; }
    // The number; 0 when is_max().
    constexpr std::uint64_t amount() const noexcept { return amount_; }

    friend constexpr bool operator==(const limit_value&, const limit_value&) = default;

private:
    constexpr limit_value(bool is_max, std::uint64_t amount) noexcept
        : is_max_(is_max), amount_(is_max ? 0 : amount) {}

    bool is_max_;
    std::uint64_t amount_;
};

enum class log_level { trace, debug, info, warn, error, critical, off };

// A numeric socket address ("127.0.0.1:9464", "[::1]:9464"); host holds no brackets.
struct listen_address {
    std::string host;
    std::uint16_t port = 0;

    friend bool operator==(const listen_address&, const listen_address&) = default;
};

// How containers are started (docs/architecture.md, "Start priority"). normal: at the
// supervisor's own scheduling policy. realtime: the supervisor spawns at SCHED_FIFO 1, and each
// berth-shim does its whole setup at that priority, back to SCHED_OTHER just before it runs
// the workload; a burst of starts then leaves other processes about 5% of the CPU (the
// kernel's real-time throttling) until it is done.
enum class start_priority { normal, realtime };

struct supervisor_settings {
    // Absent: the supervisor decides (PID 1: the cgroup2 root; host: <cgroup2 mount>/berth).
    std::optional<std::filesystem::path> cgroup_root;
    std::filesystem::path state_dir = "/run/berth";
    // Imported images (layers/, images/) and named volumes (volumes/): kept across reboots.
    std::filesystem::path storage_dir = "/var/lib/berth";
    // Always filled in: defaults to <state_dir>/control.sock. At most 107 bytes (sun_path).
    std::filesystem::path control_socket = "/run/berth/control.sock";
    // Absent: no metrics endpoint (metrics_listen = "none").
    std::optional<listen_address> metrics_listen = listen_address{"127.0.0.1", 9464};
    duration shutdown_timeout = std::chrono::seconds(30);
    config::log_level log_level = config::log_level::info;
    config::start_priority start_priority = config::start_priority::normal;

    friend bool operator==(const supervisor_settings&, const supervisor_settings&) = default;
};

// Exactly one of layers (non-empty) and ref is set.
struct image {
    std::string name;
    // Bottom layer first; absolute, normalized, without ':', ',' or '\' (overlayfs syntax).
    std::vector<std::filesystem::path> layers;
    // An imported image's name, resolved by the layer store (not yet implemented there).
    std::optional<std::string> ref;

    friend bool operator==(const image&, const image&) = default;
};

enum class restart_policy { always, on_failure, never };

// Where a container's private overlay upper and work directories live.
enum class upper_kind { tmpfs, disk };

// How a container enters its overlay root (docs/shim.md, "The root switch").
// on_template (the default): MS_MOVE onto the image's root template, an empty read-only root
// berth builds once per image, and chroot: no walk over every task, no wait for an RCU grace
// period, and nothing of the host's tree underneath.
// pivot: pivot_root, then the host's tree is detached.
// move: MS_MOVE onto the host's "/" and chroot: the host's tree stays mounted underneath, so
// only for trusted workloads.
enum class root_switch { on_template, pivot, move };

struct namespace_set {
    bool mount = true;
    bool pid = true;
    bool uts = true;
    bool ipc = true;
    bool cgroup = true;
    bool net = false;

    friend bool operator==(const namespace_set&, const namespace_set&) = default;
};

struct readiness {
    enum class kind { none, notify, exec };

    kind type = kind::none;
    // kind::exec only: the probe's argv (argv[0] absolute); empty otherwise.
    std::vector<std::string> exec;
    duration interval = std::chrono::seconds(1);
    duration timeout = std::chrono::seconds(1);
    std::uint32_t retries = 3;

    friend bool operator==(const readiness&, const readiness&) = default;
};

struct volume {
    enum class kind { named, bind, anonymous };

    kind type = kind::anonymous;
    // named: the volume's name; bind: the host path; anonymous: empty. Named sources and bind
    // sources may hold the placeholders {service} and {replica} (see config/replica.hpp).
    std::string source;
    // Absolute and normalized, never "/".
    std::filesystem::path target;
    bool read_only = false;

    friend bool operator==(const volume&, const volume&) = default;
};

// cgroup v2 limits of one cgroup. Absent members are not written.
struct limits {
    std::optional<limit_value> memory_max;      // bytes
    std::optional<limit_value> memory_high;     // bytes
    std::optional<limit_value> memory_swap_max; // bytes (0 allowed: no swap)
    std::optional<limit_value> pids_max;        // processes
    std::optional<limit_value> cpu_max;         // quota in µs per cpu_period_us, >= 1000
    std::optional<std::uint32_t> cpu_weight;    // 1..10000
    std::optional<std::uint32_t> io_weight;     // 1..10000
    std::optional<std::string> cpuset_cpus;     // validated list, e.g. "0-3,5"

    bool empty() const noexcept { return *this == limits{}; }

    friend bool operator==(const limits&, const limits&) = default;
};

struct credentials {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;

    friend bool operator==(const credentials&, const credentials&) = default;
};

struct service {
    std::string name;
    // Absent: the host's root, no rootfs change. Names an entry of fleet::images.
    std::optional<std::string> image;
    // argv, argv[0] absolute. Empty only when image names a ref image: the image's
    // Entrypoint and Cmd are run then.
    std::vector<std::string> command;
    std::uint32_t replicas = 1; // 0..100000; 0 = defined but not running
    restart_policy restart = restart_policy::on_failure;
    duration restart_delay = std::chrono::milliseconds(100);
    duration restart_delay_max = std::chrono::seconds(30); // >= restart_delay
    std::uint32_t start_limit_burst = 5;                   // 0 = no start limit
    duration start_limit_interval = std::chrono::seconds(10);
    duration start_timeout = std::chrono::seconds(30);
    duration stop_timeout = std::chrono::seconds(10);
    int stop_signal = 15; // SIGTERM; 1..64
    // Services this one starts after (TOML key `after`).
    std::vector<std::string> after;
    // Services this one requires: ordering plus failure propagation (TOML key `requires`).
    std::vector<std::string> required;
    std::map<std::string, std::string> env;
    std::filesystem::path working_dir = "/";
    credentials user;
    // A template ({service}, {replica}); set iff namespaces.uts.
    std::optional<std::string> hostname = "{service}-{replica}";
    namespace_set namespaces;
    config::readiness readiness;
    std::optional<duration> watchdog_timeout; // only with readiness kind::notify
    bool init = false;
    std::uint64_t log_max_size = 10 * 1024 * 1024; // bytes, > 0
    std::uint32_t log_max_files = 3;               // 1..1000, the current file included
    upper_kind upper = upper_kind::tmpfs;          // meaningful only with an image
    config::root_switch root_switch = config::root_switch::on_template; // only with an image
    std::vector<volume> volumes;
    config::limits limits;         // each replica's own cgroup: <root>/<service>/<replica>
    config::limits service_limits; // the service's cgroup, all replicas together

    friend bool operator==(const service&, const service&) = default;
};

struct fleet {
    supervisor_settings supervisor;
    std::vector<image> images;     // sorted by name, names unique
    std::vector<service> services; // sorted by name, names unique

    const image* find_image(std::string_view name) const noexcept;
    const service* find_service(std::string_view name) const noexcept;

    friend bool operator==(const fleet&, const fleet&) = default;
};

} // namespace berth::config
