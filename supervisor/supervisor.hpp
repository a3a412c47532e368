// `berth run`: the fleet on the loop, from start-up to a clean stop.
#pragma once

#include <spdlog/common.h>

#include <filesystem>
#include <optional>
#include <string>

namespace berth {

struct run_options {
    std::filesystem::path config_path;
    bool pid1 = false;
    std::string shim_path; // empty: next to the berth binary
    std::optional<spdlog::level::level_enum> log_level_override;
};

namespace supervisor {

// Loads the fleet, starts it, runs the loop until SIGINT/SIGTERM has stopped every service,
// cleans up (cgroups, image mounts) and returns the exit code (cli::exit_code).
int run(const run_options& options) noexcept;

} // namespace supervisor
} // namespace berth
