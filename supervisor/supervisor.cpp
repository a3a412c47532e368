// `berth run`: load the fleet, run it, and end the machine when berth is PID 1.
#include "supervisor/supervisor.hpp"

#include "config/loader.hpp"
#include "engine/log.hpp"
#include "supervisor/cli.hpp"
#include "supervisor/fleet_runner.hpp"
#include "supervisor/pid1.hpp"

#include <iostream>

namespace berth::supervisor {
namespace {

std::shared_ptr<spdlog::logger> logger() {
    return log::get("supervisor");
}

spdlog::level::level_enum level_of(config::log_level l) {
    switch (l) {
    case config::log_level::trace:
        return spdlog::level::trace;
    case config::log_level::debug:
        return spdlog::level::debug;
    case config::log_level::info:
        return spdlog::level::info;
    case config::log_level::warn:
        return spdlog::level::warn;
    case config::log_level::error:
        return spdlog::level::err;
    case config::log_level::critical:
        return spdlog::level::critical;
    case config::log_level::off:
        return spdlog::level::off;
    }
    return spdlog::level::info;
}

// The fleet from start to stop; how the machine should end, if berth is PID 1.
std::pair<int, pid1::ending> run_fleet(const run_options& options) {
    // First, while the lowest fds are free (see spawner).
    auto spawn = spawner::create();
    if (!spawn) {
        logger()->error("{}", spawn.error().message());
        return {cli::exit_failure, pid1::ending::power_off};
    }
    auto path = options.pid1 ? pid1::config_path(options.config_path) : options.config_path;
    auto loaded = config::load_fleet(path);
    if (!loaded.ok()) {
        std::cerr << config::format_diagnostics(loaded.diagnostics);
        auto n = loaded.diagnostics.size();
        logger()->error("{}: {} error{}; nothing started", path.string(), n, n == 1 ? "" : "s");
        return {cli::exit_failure, pid1::ending::power_off};
    }
    log::set_level(
        options.log_level_override.value_or(level_of(loaded.fleet->supervisor.log_level)));
    fleet_runner runner(std::move(*loaded.fleet), path, options, *spawn);
    int code = runner.run();
    return {code, runner.ending()};
}

} // namespace

int run(const run_options& options) noexcept {
    if (!options.pid1) {
        try {
            return run_fleet(options).first;
        } catch (const std::exception& e) {
            logger()->critical("supervisor: {}", e.what());
            return cli::exit_failure;
        }
    }
    // PID 1 never returns: whatever happens, the machine ends by power off or reboot.
    pid1::boot();
    auto ending = pid1::ending::power_off;
    try {
        auto [code, how] = run_fleet(options);
        ending = code == cli::exit_ok ? how : pid1::idle_until_signal();
    } catch (const std::exception& e) {
        logger()->critical("supervisor: {}", e.what());
        ending = pid1::idle_until_signal();
    }
    pid1::end_machine(ending);
}

} // namespace berth::supervisor
