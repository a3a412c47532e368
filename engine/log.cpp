// Named loggers on one synchronous stderr sink; text for people, JSON lines for machines.
#include "engine/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <array>
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

// %j: the message as the inside of a JSON string (quotes, backslashes, control bytes).
class json_message_flag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        static constexpr char hex[] = "0123456789abcdef";
        for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
            auto u = static_cast<unsigned char>(c);
            if (c == '"' || c == '\\') {
                dest.push_back('\\');
                dest.push_back(c);
            } else if (u < 0x20) {
                const char esc[] = {'\\', 'u', '0', '0', hex[u >> 4], hex[u & 15]};
                dest.append(esc, esc + sizeof esc);
            } else {
                dest.push_back(c);
            }
        }
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<json_message_flag>();
    }
};

std::unique_ptr<spdlog::formatter> formatter_for(format fmt) {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    if (fmt == format::json) {
        f->add_flag<json_message_flag>('j').set_pattern(
            R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","module":"%n","msg":"%j"})");
    } else {
        f->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %n: %v");
    }
    return f;
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
        logger->set_formatter(formatter_for(s.fmt));
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
        l->set_formatter(formatter_for(fmt));
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
