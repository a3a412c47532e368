// cgroup v2 statistics: parsing memory, pids, cpu and io files into structs.
#include "engine/cgroup.hpp"

#include <algorithm>
#include <charconv>

namespace berth::cgroup {
namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

bool to_u64(std::string_view text, std::uint64_t& out) {
    if (text.empty()) {
        return false;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

// Calls on_pair(key, value) for each "key value" line of a flat-keyed file.
template <typename F> status for_each_pair(std::string_view text, F&& on_pair) {
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t end = std::min(text.find('\n', i), text.size());
        std::string_view line = trim(text.substr(i, end - i));
        i = end + 1;
        if (line.empty()) {
            continue;
        }
        std::size_t space = line.find(' ');
        if (space == std::string_view::npos) {
            return error(EINVAL, "line '" + std::string(line) + "' is not 'key value'");
        }
        std::string_view key = line.substr(0, space);
        std::uint64_t value = 0;
        if (!to_u64(trim(line.substr(space + 1)), value)) {
            return error(EINVAL, "bad number for '" + std::string(key) + "'");
        }
        on_pair(key, value);
    }
    return {};
}

// Reads a file that may be absent and parses it; absent gives nullopt.
template <typename T, typename Parse>
result<std::optional<T>> read_optional(const std::string& dir, std::string_view file,
                                       Parse&& parse) {
    auto text = read_text_if_present(dir, file);
    if (!text) {
        return text.error();
    }
    if (!text->has_value()) {
        return std::optional<T>();
    }
    result<T> parsed = parse(**text);
    if (!parsed) {
        return parsed.error().within("cgroup '" + dir + "': " + std::string(file));
    }
    return std::optional<T>(std::move(parsed.value()));
}

} // namespace

result<std::uint64_t> parse_counter(std::string_view text) {
    std::uint64_t value = 0;
    if (!to_u64(trim(text), value)) {
        return error(EINVAL, "'" + std::string(trim(text)) + "' is not a counter");
    }
    return value;
}

result<memory_events> parse_memory_events(std::string_view text) {
    memory_events ev;
    status s = for_each_pair(text, [&](std::string_view key, std::uint64_t value) {
        if (key == "low") {
            ev.low = value;
        } else if (key == "high") {
            ev.high = value;
        } else if (key == "max") {
            ev.max = value;
        } else if (key == "oom") {
            ev.oom = value;
        } else if (key == "oom_kill") {
            ev.oom_kill = value;
        } else if (key == "oom_group_kill") {
            ev.oom_group_kill = value;
        }
    });
    if (!s) {
        return s.error();
    }
    return ev;
}

result<cpu_stat> parse_cpu_stat(std::string_view text) {
    cpu_stat st;
    bool saw_usage = false;
    status s = for_each_pair(text, [&](std::string_view key, std::uint64_t value) {
        if (key == "usage_usec") {
            st.usage_usec = value;
            saw_usage = true;
        } else if (key == "user_usec") {
            st.user_usec = value;
        } else if (key == "system_usec") {
            st.system_usec = value;
        } else if (key == "nr_periods") {
            st.nr_periods = value;
        } else if (key == "nr_throttled") {
            st.nr_throttled = value;
        } else if (key == "throttled_usec") {
            st.throttled_usec = value;
        }
    });
    if (!s) {
        return s.error();
    }
    if (!saw_usage) {
        return error(EINVAL, "no usage_usec line");
    }
    return st;
}

result<io_stat> parse_io_stat(std::string_view text) {
    // One line per device: "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 ...".
    io_stat sum;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t end = std::min(text.find('\n', i), text.size());
        std::string_view line = trim(text.substr(i, end - i));
        i = end + 1;
        std::size_t pos = line.find(' ');
        while (pos != std::string_view::npos) {
            std::size_t next = line.find(' ', pos + 1);
            std::string_view pair = line.substr(
                pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1);
            pos = next;
            std::size_t eq = pair.find('=');
            if (eq == std::string_view::npos) {
                continue;
            }
            std::string_view key = pair.substr(0, eq);
            std::uint64_t value = 0;
            if (!to_u64(pair.substr(eq + 1), value)) {
                return error(EINVAL, "bad number for '" + std::string(key) + "'");
            }
            if (key == "rbytes") {
                sum.rbytes += value;
            } else if (key == "wbytes") {
                sum.wbytes += value;
            } else if (key == "rios") {
                sum.rios += value;
            } else if (key == "wios") {
                sum.wios += value;
            }
        }
    }
    return sum;
}

result<std::optional<std::uint64_t>> read_memory_current(const std::string& dir) {
    return read_optional<std::uint64_t>(dir, "memory.current", parse_counter);
}

result<std::optional<std::uint64_t>> read_memory_peak(const std::string& dir) {
    return read_optional<std::uint64_t>(dir, "memory.peak", parse_counter);
}

result<std::optional<memory_events>> read_memory_events(const std::string& dir) {
    return read_optional<memory_events>(dir, "memory.events", parse_memory_events);
}

result<memory_events> read_memory_events(int fd) {
    auto text = read_text_at(fd);
    if (!text) {
        return text.error().within("memory.events");
    }
    return parse_memory_events(text.value()).within("memory.events");
}

result<std::optional<std::uint64_t>> read_pids_current(const std::string& dir) {
    return read_optional<std::uint64_t>(dir, "pids.current", parse_counter);
}

result<std::optional<cpu_stat>> read_cpu_stat(const std::string& dir) {
    return read_optional<cpu_stat>(dir, "cpu.stat", parse_cpu_stat);
}

result<std::optional<io_stat>> read_io_stat(const std::string& dir) {
    return read_optional<io_stat>(dir, "io.stat", parse_io_stat);
}

} // namespace berth::cgroup
