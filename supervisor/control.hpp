// What the control API and berthctl can see and steer: the interface the running fleet
// (fleet_runner.cpp) implements, kept free of HTTP and JSON so both sides test alone.
#pragma once

#include "engine/result.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

struct replica_view {
    std::string service;
    std::uint32_t index = 0;
    std::string state;                    // lifecycle::to_string: "ready", "backoff", ...
    pid_t pid = -1;                       // -1 when no process
    std::optional<double> uptime_seconds; // since the workload was exec'd
    std::uint64_t restarts = 0;
    std::string last_exit; // "exited 1", "killed by SIGKILL after OOM kill", ""
    bool last_exit_oom = false;
    std::string failure;                       // why it is failed, when it is
    std::optional<std::uint64_t> memory_bytes; // memory.current, when the controller exists
    std::optional<double> cpu_seconds;         // cpu.stat usage_usec
    std::string log_path;
    std::string cgroup_path;
};

struct service_view {
    std::string name;
    std::uint32_t desired = 0; // replicas in the fleet file
    std::string image;         // the fleet's image name; empty: the host's root
    // An imported image's config Labels (an image from layer directories has none).
    std::map<std::string, std::string> labels;
    std::vector<replica_view> replicas;
};

// One change a reload would make (or made).
struct reload_change {
    enum class kind { added, removed, changed, scaled };
    kind what;
    std::string service;
    std::string detail; // "replicas 100 -> 150", "command changed", ...
};

// "added", "removed", "changed", "scaled".
constexpr std::string_view to_string(reload_change::kind k) noexcept {
    switch (k) {
    case reload_change::kind::added:
        return "added";
    case reload_change::kind::removed:
        return "removed";
    case reload_change::kind::changed:
        return "changed";
    case reload_change::kind::scaled:
        return "scaled";
    }
    return "unknown";
}

struct reload_outcome {
    bool applied = false;            // false for a dry run or an invalid file
    std::vector<std::string> errors; // the loader's diagnostics, formatted; empty when valid
    std::vector<reload_change> plan;
};

class fleet_control {
public:
    virtual ~fleet_control() = default;

    // Every service in start order, or one (an unknown name gives an empty list).
    virtual std::vector<service_view> services(std::optional<std::string_view> service) = 0;

    // Each acts on a whole service, or on one replica when `replica` is set. An unknown
    // service or replica is an ENOENT error whose text says so, with a suggestion when a
    // known name is close: "no service named 'wbe'; did you mean 'web'?".
    virtual berth::status start(std::string_view service, std::optional<std::uint32_t> replica) = 0;
    virtual berth::status stop(std::string_view service, std::optional<std::uint32_t> replica) = 0;
    virtual berth::status restart(std::string_view service,
                                  std::optional<std::uint32_t> replica) = 0;

    // Re-reads the fleet file; applies the plan unless dry_run.
    virtual reload_outcome reload(bool dry_run) = 0;

    // Stops the fleet as SIGTERM would (PID 1: then powers off, or reboots).
    virtual void shutdown(bool reboot) = 0;
};

} // namespace berth
