// Named loggers, one per module ("engine", "supervisor", "metrics", ...), on synchronous sinks.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <string_view>

namespace berth::log {

enum class format { text, json };

// The logger of a module, created on first use with the current sinks and level.
// Never throws; loggers are cached, so callers may keep the pointer.
std::shared_ptr<spdlog::logger> get(std::string_view module) noexcept;

// Sends every logger to stderr in the given format. Synchronous: a log call finishes its
// write before returning, and no thread is started.
void configure(format fmt, spdlog::level::level_enum level) noexcept;

// Sets the level of every existing and future logger.
void set_level(spdlog::level::level_enum level) noexcept;

// Parses "trace|debug|info|warn|error|critical|off".
std::optional<spdlog::level::level_enum> parse_level(std::string_view text) noexcept;

} // namespace berth::log
