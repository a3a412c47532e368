// The berth command line.
#include "supervisor/cli.hpp"

#include "config/loader.hpp"
#include "config/normalize.hpp"
#include "engine/log.hpp"
#include "supervisor/image_cli.hpp"
#include "supervisor/supervisor.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

namespace berth::cli {
namespace {

constexpr const char* default_config = "/etc/berth/berth.toml";

struct options {
    std::string command;
    std::vector<std::string> operands;
    std::optional<spdlog::level::level_enum> log_level;
    log::format log_format = log::format::text;
    std::string shim;
};

int usage_error(const std::string& message) {
    std::cerr << "berth: " << message << "\nTry 'berth --help'.\n";
    return exit_usage;
}

// Parses the arguments; returns an exit code when parsing already decided the outcome.
std::optional<int> parse(const std::vector<std::string>& args, options& opt) {
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= args.size()) {
                return std::nullopt;
            }
            return args[++i];
        };
        if (a == "-h" || a == "--help") {
            std::cout << help_text();
            return exit_ok;
        }
        if (a == "--version") {
            std::cout << "berth " << BERTH_VERSION << "\n";
            return exit_ok;
        }
        if (a == "--log-level") {
            auto v = value();
            auto level = v ? log::parse_level(*v) : std::nullopt;
            if (!level) {
                return usage_error("--log-level needs one of trace, debug, info, warn, error, "
                                   "critical, off");
            }
            opt.log_level = level;
        } else if (a == "--log-format") {
            auto v = value();
            if (!v || (*v != "text" && *v != "json")) {
                return usage_error("--log-format needs 'text' or 'json'");
            }
            opt.log_format = *v == "json" ? log::format::json : log::format::text;
        } else if (a == "--shim") {
            auto v = value();
            if (!v) {
                return usage_error("--shim needs the path of berth-shim");
            }
            opt.shim = *v;
        } else if (a.size() > 1 && a[0] == '-') {
            return usage_error("unknown option '" + a + "'");
        } else if (opt.command.empty()) {
            opt.command = a;
            if (a == "image" || a == "volume") {
                // The storage commands parse their own words, options included.
                opt.operands.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
                return std::nullopt;
            }
        } else {
            opt.operands.push_back(a);
        }
    }
    return std::nullopt;
}

int run_check(const options& opt) {
    if (opt.operands.size() != 1) {
        return usage_error("check needs exactly one fleet file");
    }
    auto loaded = config::load_fleet(opt.operands[0]);
    if (!loaded.ok()) {
        std::cerr << config::format_diagnostics(loaded.diagnostics);
        std::cerr << "berth: " << opt.operands[0] << ": " << loaded.diagnostics.size()
                  << (loaded.diagnostics.size() == 1 ? " error\n" : " errors\n");
        return exit_failure;
    }
    std::cout << config::render_toml(*loaded.fleet);
    return exit_ok;
}

int run_fleet(const options& opt) {
    if (opt.operands.size() > 1) {
        return usage_error("run takes at most one fleet file");
    }
    run_options ro;
    ro.config_path = opt.operands.empty() ? default_config : opt.operands[0];
    ro.pid1 = ::getpid() == 1;
    ro.shim_path = opt.shim;
    ro.log_level_override = opt.log_level;
    return supervisor::run(ro);
}

} // namespace

std::string help_text() {
    return R"(Usage: berth [OPTIONS] COMMAND [ARGS]

A container supervisor and init: runs a fleet of services from a TOML file.

Commands:
  run [FILE]     Run the fleet in FILE (default /etc/berth/berth.toml) until SIGINT or
                 SIGTERM, then stop every service in reverse dependency order and exit.
                 As PID 1 (also with no command at all): mount /proc, /sys, /dev, /run and
                 cgroup2 first, take berth.config=PATH from the kernel command line, and
                 at the end power off (SIGTERM, SIGPWR) or reboot (SIGINT, ctrl-alt-del)
                 instead of exiting.
  check FILE     Validate FILE and its includes; print the normalized fleet (every
                 default filled in) on success, every error on failure.
  image ...      Import, list, remove and collect images (docker save, OCI layouts).
  volume ...     List and remove named volumes.
  version        Print the version.

Options:
  --log-level LEVEL   trace, debug, info, warn, error, critical or off; overrides the
                      fleet's supervisor.log_level
  --log-format FMT    text (default) or json (one JSON object per line)
  --shim PATH         berth-shim to use (default: next to the berth binary)
  -h, --help          This text.
  --version           The version.

Exit codes:
  0  success (run: the fleet stopped cleanly)
  1  the fleet file has errors, or the supervisor could not start
  2  bad command line

Storage commands (see docs/images.md and docs/volumes.md):
)" + storage_help_text();
}

int main(const std::vector<std::string>& args) noexcept {
    try {
        options opt;
        if (auto done = parse(args, opt)) {
            return *done;
        }
        log::configure(opt.log_format, opt.log_level.value_or(spdlog::level::info));
        if (opt.command == "check") {
            return run_check(opt);
        }
        // The kernel starts init with no arguments: as PID 1, that means run.
        if (opt.command == "run" || (opt.command.empty() && ::getpid() == 1)) {
            return run_fleet(opt);
        }
        if (opt.command == "image") {
            return image_main(opt.operands);
        }
        if (opt.command == "volume") {
            return volume_main(opt.operands);
        }
        if (opt.command == "version") {
            std::cout << "berth " << BERTH_VERSION << "\n";
            return exit_ok;
        }
        if (opt.command.empty()) {
            return usage_error("no command given");
        }
        return usage_error("unknown command '" + opt.command + "'");
    } catch (const std::exception& e) {
        std::cerr << "berth: " << e.what() << "\n";
        return exit_failure;
    }
}

} // namespace berth::cli
