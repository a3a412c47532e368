// Parsers for signals, user ids, CPU lists, volumes, listen addresses, paths and names.
#include "config/values.hpp"

#include "config/replica.hpp"

#include <array>
#include <charconv>
#include <csignal>

namespace berth::config {
namespace {

struct signal_entry {
    std::string_view name; // without "SIG"
    int number;
};

// Linux's standard signals, numbered by the C library for the target architecture.
constexpr std::array<signal_entry, 31> signals{{
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},
}};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool all_digits(std::string_view text) {
    if (text.empty()) {
        return false;
    }
    for (char c : text) {
        if (!is_digit(c)) {
            return false;
        }
    }
    return true;
}

// A decimal number of at most `max`; nullopt when text is not all digits or too large.
std::optional<std::uint64_t> to_number(std::string_view text, std::uint64_t max) {
    if (!all_digits(text)) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value > max) {
        return std::nullopt;
    }
    return value;
}

constexpr std::uint64_t max_id = 4'294'967'294; // (uid_t)-1 means "unchanged" to the kernel
constexpr std::uint64_t max_cpu = 8191;         // NR_CPUS is at most 8192

parsed<std::uint32_t> parse_id(std::string_view text, std::string_view what) {
    if (auto n = to_number(text, max_id)) {
        return static_cast<std::uint32_t>(*n);
    }
    if (all_digits(text)) {
        return parsed<std::uint32_t>::failure(std::string(what) + " out of range (0 to " +
                                              std::to_string(max_id) + ")");
    }
    return parsed<std::uint32_t>::failure(
        "user and group names are not supported (they need the image's /etc/passwd, which "
        "berth does not read); give numeric ids, e.g. \"1000:1000\"");
}

std::optional<std::string> check_cpuset_item(std::string_view item) {
    const std::size_t dash = item.find('-');
    const std::string_view first = item.substr(0, dash);
    const auto low = to_number(first, max_cpu);
    if (!low) {
        return "expected a CPU number 0..8191 or a range \"N-M\"";
    }
    if (dash == std::string_view::npos) {
        return std::nullopt;
    }
    const auto high = to_number(item.substr(dash + 1), max_cpu);
    if (!high) {
        return "expected a CPU number 0..8191 or a range \"N-M\"";
    }
    if (*high < *low) {
        return "range \"N-M\" needs N <= M";
    }
    return std::nullopt;
}

// Volume names after placeholder removal: [A-Za-z0-9_.-], not starting with '.'.
std::optional<std::string> check_volume_name(std::string_view name) {
    if (auto bad = check_placeholders(name)) {
        return "volume name: " + *bad;
    }
    const std::string plain = expand_placeholders(name, "s", 0);
    if (plain.empty() || plain.front() == '.') {
        return "a volume name must not be empty or start with '.'";
    }
    for (char c : plain) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
                        c == '_' || c == '.' || c == '-';
        if (!ok) {
            return "a volume name may only hold letters, digits, '_', '.', '-' (a source "
                   "starting with '/' is a bind mount)";
        }
    }
    return std::nullopt;
}

parsed<volume> volume_from_parts(std::string_view source, std::string_view target, bool read_only) {
    volume v;
    v.read_only = read_only;
    auto t = parse_absolute_path(target);
    if (!t) {
        return parsed<volume>::failure("target: " + t.error());
    }
    if (*t == "/") {
        return parsed<volume>::failure("target: cannot mount a volume over '/'");
    }
    v.target = *t;
    if (source.empty()) {
        return v;
    }
    if (source.front() == '/') {
        auto s = parse_absolute_path(source);
        if (!s) {
            return parsed<volume>::failure("source: " + s.error());
        }
        v.type = volume::kind::bind;
        v.source = *s;
        return v;
    }
    if (auto bad = check_volume_name(source)) {
        return parsed<volume>::failure(*bad);
    }
    v.type = volume::kind::named;
    v.source = source;
    return v;
}

bool valid_ipv4(std::string_view text) {
    int parts = 0;
    while (true) {
        const std::size_t dot = text.find('.');
        const std::string_view part = text.substr(0, dot);
        if (part.size() > 3 || (part.size() > 1 && part.front() == '0') || !to_number(part, 255)) {
            return false;
        }
        ++parts;
        if (dot == std::string_view::npos) {
            return parts == 4;
        }
        text.remove_prefix(dot + 1);
    }
}

// Counts the 16-bit groups of one side of "::"; -1 when malformed.
int ipv6_groups(std::string_view text, bool allow_ipv4_tail) {
    if (text.empty()) {
        return 0;
    }
    int groups = 0;
    while (true) {
        const std::size_t colon = text.find(':');
        const std::string_view group = text.substr(0, colon);
        if (colon == std::string_view::npos && allow_ipv4_tail &&
            group.find('.') != std::string_view::npos) {
            return valid_ipv4(group) ? groups + 2 : -1;
        }
        if (group.empty() || group.size() > 4) {
            return -1;
        }
        for (char c : group) {
            if (!is_digit(c) && !((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
                return -1;
            }
        }
        ++groups;
        if (colon == std::string_view::npos) {
            return groups;
        }
        text.remove_prefix(colon + 1);
    }
}

bool valid_ipv6(std::string_view text) {
    const std::size_t gap = text.find("::");
    if (gap == std::string_view::npos) {
        return ipv6_groups(text, true) == 8;
    }
    const std::string_view tail = text.substr(gap + 2);
    if (tail.find("::") != std::string_view::npos) {
        return false;
    }
    const int head_groups = ipv6_groups(text.substr(0, gap), false);
    const int tail_groups = ipv6_groups(tail, true);
    return head_groups >= 0 && tail_groups >= 0 && head_groups + tail_groups <= 7;
}

} // namespace

parsed<int> parse_signal(std::string_view text) {
    if (all_digits(text)) {
        if (auto n = to_number(text, 64); n && *n >= 1) {
            return static_cast<int>(*n);
        }
        return parsed<int>::failure("signal number out of range (1 to 64)");
    }
    std::string_view name = text;
    if (name.starts_with("SIG")) {
        name.remove_prefix(3);
    }
    for (const auto& s : signals) {
        if (s.name == name) {
            return s.number;
        }
    }
    return parsed<int>::failure("unknown signal (use a name such as \"SIGTERM\" or \"TERM\", "
                                "or a number 1..64)");
}

std::string format_signal(int number) {
    for (const auto& s : signals) {
        if (s.number == number) {
            return "SIG" + std::string(s.name);
        }
    }
    return std::to_string(number);
}

parsed<credentials> parse_user(std::string_view text) {
    const std::size_t colon = text.find(':');
    auto uid = parse_id(text.substr(0, colon), "uid");
    if (!uid) {
        return parsed<credentials>::failure(uid.error());
    }
    if (colon == std::string_view::npos) {
        return credentials{*uid, *uid};
    }
    auto gid = parse_id(text.substr(colon + 1), "gid");
    if (!gid) {
        return parsed<credentials>::failure(gid.error());
    }
    return credentials{*uid, *gid};
}

std::string format_user(const credentials& user) {
    return std::to_string(user.uid) + ":" + std::to_string(user.gid);
}

parsed<std::string> parse_cpuset(std::string_view text) {
    if (text.empty()) {
        return parsed<std::string>::failure("empty (leave cpuset_cpus out to allow every CPU)");
    }
    std::string_view rest = text;
    while (true) {
        const std::size_t comma = rest.find(',');
        if (auto bad = check_cpuset_item(rest.substr(0, comma))) {
            return parsed<std::string>::failure(*bad);
        }
        if (comma == std::string_view::npos) {
            return std::string(text);
        }
        rest.remove_prefix(comma + 1);
    }
}

parsed<volume> parse_volume(std::string_view text) {
    std::string_view body = text;
    bool read_only = false;
    if (body.ends_with(":ro") || body.ends_with(":rw")) {
        read_only = body.ends_with(":ro");
        body.remove_suffix(3);
    }
    const std::size_t colon = body.find(':');
    if (colon == std::string_view::npos) {
        if (read_only) {
            return parsed<volume>::failure("an anonymous volume starts empty: \":ro\" makes no "
                                           "sense without a source");
        }
        return volume_from_parts({}, body, false);
    }
    if (body.find(':', colon + 1) != std::string_view::npos) {
        return parsed<volume>::failure(
            "expected \"[source:]target[:ro|:rw]\" (paths cannot hold ':')");
    }
    if (colon == 0) {
        return parsed<volume>::failure("empty source before ':'");
    }
    return volume_from_parts(body.substr(0, colon), body.substr(colon + 1), read_only);
}

std::string format_volume(const volume& v) {
    std::string out = v.source;
    if (!out.empty()) {
        out += ':';
    }
    out += v.target.string();
    if (v.read_only) {
        out += ":ro";
    }
    return out;
}

parsed<listen_address> parse_listen_address(std::string_view text) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return parsed<listen_address>::failure("expected \"host:port\", e.g. \"127.0.0.1:9464\"");
    }
    std::string_view host = text.substr(0, colon);
    const auto port = to_number(text.substr(colon + 1), 65535);
    if (!port) {
        return parsed<listen_address>::failure("expected a port number 0..65535 after ':'");
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        if (!valid_ipv6(host)) {
            return parsed<listen_address>::failure("not a valid IPv6 address inside [...]");
        }
    } else if (!valid_ipv4(host)) {
        return parsed<listen_address>::failure(
            "expected a numeric IPv4 address or [IPv6] (no name resolution in PID 1)");
    }
    return listen_address{std::string(host), static_cast<std::uint16_t>(*port)};
}

std::string format_listen_address(const listen_address& address) {
    const bool v6 = address.host.find(':') != std::string::npos;
    return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

parsed<std::string> parse_absolute_path(std::string_view text) {
    if (text.empty() || text.front() != '/') {
        return parsed<std::string>::failure("not absolute (it must start with '/')");
    }
    if (text.size() > 4095) {
        return parsed<std::string>::failure("path too long (at most 4095 bytes)");
    }
    if (text.find('\0') != std::string_view::npos) {
        return parsed<std::string>::failure("a path cannot hold a NUL byte");
    }
    std::string out;
    std::string_view rest = text;
    while (!rest.empty()) {
        const std::size_t slash = rest.find('/');
        const std::string_view part = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        if (part == "..") {
            return parsed<std::string>::failure("a path cannot hold \"..\" components");
        }
        if (!part.empty() && part != ".") {
            out += '/';
            out += part;
        }
    }
    return out.empty() ? std::string("/") : out;
}

std::optional<std::string> check_name(std::string_view name) {
    if (name.empty() || name.size() > 48) {
        return "a name must be 1 to 48 characters long";
    }
    const char first = name.front();
    if (!(is_digit(first) || (first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z'))) {
        return "a name must start with a letter or digit";
    }
    for (char c : name) {
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-';
        if (!ok) {
            return "a name may only hold letters, digits, '_' and '-'";
        }
    }
    if (name == "init") {
        return "\"init\" is reserved (the supervisor's own cgroup is <root>/init)";
    }
    return std::nullopt;
}

std::optional<std::string> check_hostname(std::string_view hostname) {
    if (hostname.empty() || hostname.size() > 64) {
        return "a hostname must be 1 to 64 bytes long";
    }
    if (hostname.front() == '-' || hostname.front() == '.') {
        return "a hostname must not start with '-' or '.'";
    }
    for (char c : hostname) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
                        c == '_' || c == '-' || c == '.';
        if (!ok) {
            return "a hostname may only hold letters, digits, '.', '_' and '-'";
        }
    }
    return std::nullopt;
}

} // namespace berth::config
