// Named loggers on one synchronous stderr sink; text for people, JSON lines for machines.
#include "engine/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <array>
#include <mutex>
#include <string>

namespace berth::log {
namespace {

struct state {
    std::shared_ptr<spdlog::sinks::sink> sink = std::make_shared<spdlog::sinks::stderr_sink_st>();
    spdlog::level::level_enum level = spdlog::level::info;
    format fmt = format::text;
};

state& current() {
    static state s;
    return s;
}

const char* pattern_for(format fmt) {
    if (fmt == format::json) {
        return R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","module":"%n","msg":"%v"})";
    }
    return "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %n: %v";
}

} // namespace

std::shared_ptr<spdlog::logger> get(std::string_view module) noexcept {
    try {
        std::string name(module);
        if (auto existing = spdlog::get(name)) {
            return existing;
        }
        auto& s = current();
        auto logger = std::make_shared<spdlog::logger>(name, s.sink);
        logger->set_level(s.level);
        logger->set_pattern(pattern_for(s.fmt));
        logger->flush_on(spdlog::level::warn);
        spdlog::register_logger(logger);
        return logger;
    } catch (...) {
        // Out of memory or a registry race; a logger that drops everything keeps callers safe.
        static auto null_logger = std::make_shared<spdlog::logger>("null");
        null_logger->set_level(spdlog::level::off);
        return null_logger;
    }
}

void configure(format fmt, spdlog::level::level_enum level) noexcept {
    auto& s = current();
    s.fmt = fmt;
    s.level = level;
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) {
        l->set_level(level);
        l->set_pattern(pattern_for(fmt));
    });
}

void set_level(spdlog::level::level_enum level) noexcept {
    current().level = level;
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(level); });
}

std::optional<spdlog::level::level_enum> parse_level(std::string_view text) noexcept {
    static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 7> names{{
        {"trace", spdlog::level::trace},
        {"debug", spdlog::level::debug},
        {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},
        {"error", spdlog::level::err},
        {"critical", spdlog::level::critical},
        {"off", spdlog::level::off},
    }};
    for (const auto& [name, level] : names) {
        if (name == text) {
            return level;
        }
    }
    return std::nullopt;
}

} // namespace berth::log
