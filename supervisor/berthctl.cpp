// berthctl: the command-line client of berth's control socket (docs/api.md, "berthctl").
#include "supervisor/berthctl_http.hpp"
#include "supervisor/berthctl_logs.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace bhttp = boost::beast::http;
namespace json = boost::json;
namespace ctl = berth::ctl;

// Exit codes (also in --help and docs/api.md).
enum exit_code : int {
    exit_ok = 0,
    exit_failed = 1,      // the daemon refused or failed the operation
    exit_usage = 2,       // bad command line
    exit_unreachable = 3, // no answer from the daemon: socket missing, refused, timed out
};

constexpr const char* default_socket = "/run/berth/control.sock";

const char* const help = R"(Usage: berthctl [--socket PATH] [--json] COMMAND [ARGS]

Talks to the berth supervisor over its control socket.

Commands:
  status [SERVICE[/REPLICA]]   the fleet, one service or one replica, as a table:
                               SERVICE REPLICA STATE PID UPTIME RESTARTS LAST-EXIT MEMORY CPU
  start SERVICE[/REPLICA]      start a stopped service or replica
  stop SERVICE[/REPLICA]       stop it (SIGTERM, then the service's stop timeout)
  restart SERVICE[/REPLICA]    stop, then start again
  logs SERVICE[/REPLICA] [-f] [-n N]
                               the last N lines of a replica's output log (default 10,
                               'all' for everything, rotated files included); -f follows
                               the log, across rotation, until interrupted
  reload [--dry-run]           re-read the fleet file and apply the changes (or only
                               print them); prints the plan or the file's errors
  shutdown [--reboot]          stop the fleet and end berth (as PID 1: power off, or
                               reboot)
  version                      the versions of berthctl and of the running berth

Options:
  --socket PATH   the control socket (default: $BERTH_SOCKET, else /run/berth/control.sock)
  --json          print the API's JSON answer instead of text (not for logs)
  -h, --help      this text

Exit status:
  0  success
  1  the operation failed; the daemon's reason is printed as "berthctl: <text>"
  2  usage error
  3  cannot reach berth: the socket is missing or refuses connections, or no answer came
     within 30 s
)";

// ---- output helpers ---------------------------------------------------------------------

void pretty(std::ostream& out, const json::value& v, int indent = 0) {
    const std::string pad(static_cast<std::size_t>(indent) + 2, ' ');
    const std::string close(static_cast<std::size_t>(indent), ' ');
    if (const auto* o = v.if_object(); o && !o->empty()) {
        out << "{\n";
        for (auto it = o->begin(); it != o->end(); ++it) {
            out << pad << json::serialize(json::value(it->key())) << ": ";
            pretty(out, it->value(), indent + 2);
            out << (std::next(it) == o->end() ? "\n" : ",\n");
        }
        out << close << "}";
    } else if (const auto* a = v.if_array(); a && !a->empty()) {
        out << "[\n";
        for (std::size_t i = 0; i < a->size(); ++i) {
            out << pad;
            pretty(out, (*a)[i], indent + 2);
            out << (i + 1 == a->size() ? "\n" : ",\n");
        }
        out << close << "]";
    } else {
        out << json::serialize(v);
    }
    if (indent == 0) {
        out << "\n";
    }
}

const json::value& field(const json::value& v, std::string_view key) {
    static const json::value null;
    if (const auto* o = v.if_object()) {
        if (const auto* f = o->if_contains(key)) {
            return *f;
        }
    }
    return null;
}

std::string text_of(const json::value& v, std::string fallback = "-") {
    if (const auto* s = v.if_string()) {
        return std::string(*s);
    }
    return fallback;
}

std::optional<double> number_of(const json::value& v) {
    boost::system::error_code ec;
    double d = v.is_number() ? v.to_number<double>(ec) : 0;
    return v.is_number() && !ec ? std::optional(d) : std::nullopt;
}

std::string two_units(long long big, char big_unit, long long small, char small_unit) {
    std::string s = std::to_string(big) + big_unit;
    s += (small < 10 ? "0" : "") + std::to_string(small) + small_unit;
    return s;
}

std::string format_duration(double seconds) {
    auto s = static_cast<long long>(seconds);
    if (s < 60) {
        return std::to_string(s) + "s";
    }
    if (s < 3600) {
        return two_units(s / 60, 'm', s % 60, 's');
    }
    if (s < 86400) {
        return two_units(s / 3600, 'h', s / 60 % 60, 'm');
    }
    return two_units(s / 86400, 'd', s / 3600 % 24, 'h');
}

std::string format_cpu(double seconds) {
    if (seconds >= 60) {
        return format_duration(seconds);
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, seconds < 10 ? "%.2fs" : "%.1fs", seconds);
    return buf;
}

// Bytes in binary units, the way the fleet file writes sizes: 512B, 1.5K, 12.3M, 2.0G.
std::string format_memory(double bytes) {
    const char* units = "BKMGTP";
    int u = 0;
    while (bytes >= 1024 && u < 5) {
        bytes /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0) {
        std::snprintf(buf, sizeof buf, "%.0fB", bytes);
    } else {
        std::snprintf(buf, sizeof buf, bytes < 100 ? "%.1f%c" : "%.0f%c", bytes, units[u]);
    }
    return buf;
}

std::string last_exit_of(const json::value& r) {
    std::string text = text_of(field(r, "last_exit"));
    const bool oom = field(r, "last_exit_oom").is_bool() && field(r, "last_exit_oom").get_bool();
    if (oom && text.find("OOM") == std::string::npos) {
        text = (text == "-" ? "" : text + " ") + "(OOM)";
    }
    return text;
}

void print_table(const std::vector<const json::value*>& replicas,
                 const json::value& empty_services) {
    std::vector<std::vector<std::string>> rows{
        {"SERVICE", "REPLICA", "STATE", "PID", "UPTIME", "RESTARTS", "LAST-EXIT", "MEMORY", "CPU"}};
    std::vector<std::string> failures;
    for (const json::value* r : replicas) {
        auto number = [&](std::string_view key, auto format) -> std::string {
            auto n = number_of(field(*r, key));
            return n ? format(*n) : "-";
        };
        auto integer = [](double d) { return std::to_string(static_cast<long long>(d)); };
        rows.push_back({text_of(field(*r, "service")), number("index", integer),
                        text_of(field(*r, "state")), number("pid", integer),
                        number("uptime_seconds", format_duration), number("restarts", integer),
                        last_exit_of(*r), number("memory_bytes", format_memory),
                        number("cpu_seconds", format_cpu)});
        if (auto failure = text_of(field(*r, "failure"), ""); !failure.empty()) {
            failures.push_back(text_of(field(*r, "name")) + ": " + failure);
        }
    }
    if (const auto* names = empty_services.if_array()) {
        for (const auto& n : *names) {
            rows.push_back({text_of(n), "-", "no replicas", "-", "-", "-", "-", "-", "-"});
        }
    }
    std::vector<std::size_t> width(rows.front().size(), 0);
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < row.size(); ++i) {
            width[i] = std::max(width[i], row[i].size());
        }
    }
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) {
                line += std::string(width[i] - row[i].size() + 2, ' ');
            }
        }
        std::cout << line << "\n";
    }
    for (const auto& f : failures) {
        std::cout << f << "\n";
    }
}

// ---- the command line -------------------------------------------------------------------

struct options {
    std::string socket;
    bool json = false;
    bool follow = false;
    std::optional<std::size_t> lines; // logs -n; SIZE_MAX for "all"
    bool dry_run = false;
    bool reboot = false;
    std::string command;
    std::vector<std::string> operands;
    std::vector<std::string> used; // command-specific options given, for checking
};

int usage_error(const std::string& message) {
    std::cerr << "berthctl: " << message << "\nTry 'berthctl --help'.\n";
    return exit_usage;
}

int failed(const std::string& message, int code = exit_failed) {
    std::cerr << "berthctl: " << message << "\n";
    return code;
}

// SERVICE or SERVICE/REPLICA.
struct target {
    std::string service;
    std::optional<std::uint32_t> replica;
    std::string text() const {
        return replica ? service + "/" + std::to_string(*replica) : service;
    }
};

std::optional<target> parse_target(const std::string& text) {
    auto slash = text.find('/');
    target t{text.substr(0, slash), std::nullopt};
    if (t.service.empty()) {
        return std::nullopt;
    }
    if (slash != std::string::npos) {
        std::uint32_t n = 0;
        const char* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data() + slash + 1, end, n);
        if (slash + 1 == text.size() || ec != std::errc() || ptr != end) {
            return std::nullopt;
        }
        t.replica = n;
    }
    return t;
}

// A path segment, percent-encoded beyond RFC 3986's unreserved characters.
std::string encode_segment(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string resource_of(const target& t) {
    std::string path = "/v1/services/" + encode_segment(t.service);
    if (t.replica) {
        path += "/replicas/" + std::to_string(*t.replica);
    }
    return path;
}

class client {
public:
    explicit client(options opt) : opt_(std::move(opt)) {}

    int run();

private:
    // Sends a request; on success stores the answer in last_ and returns nullopt, else the exit
    // code (the error already printed). Statuses of 400 and above are failures.
    std::optional<int> call(bhttp::verb method, const std::string& target,
                            const json::value& body = nullptr) {
        auto r =
            ctl::exchange(opt_.socket, method, target, body.is_null() ? "" : json::serialize(body));
        if (!r) {
            std::string text = r.error().message();
            if (r.error().code() == ENOENT || r.error().code() == ECONNREFUSED) {
                text += " (is berth running?)";
            }
            return failed(text, exit_unreachable);
        }
        last_ = std::move(*r);
        if (last_.status >= 400) {
            if (opt_.json) {
                pretty(std::cout, last_.body);
            }
            return failed(text_of(field(last_.body, "error"),
                                  "berth answered HTTP " + std::to_string(last_.status)));
        }
        return std::nullopt;
    }

    int status();
    int action();
    int logs();
    int reload();
    int shutdown();
    int version();

    options opt_;
    ctl::reply last_;
};

int client::status() {
    if (opt_.operands.size() > 1) {
        return usage_error("status takes at most one SERVICE[/REPLICA]");
    }
    std::optional<target> t;
    if (!opt_.operands.empty() && !(t = parse_target(opt_.operands[0]))) {
        return usage_error("'" + opt_.operands[0] + "' is not SERVICE or SERVICE/REPLICA");
    }
    if (auto code = call(bhttp::verb::get, t ? resource_of(*t) : "/v1/services")) {
        return *code;
    }
    if (opt_.json) {
        pretty(std::cout, last_.body);
        return exit_ok;
    }
    std::vector<const json::value*> replicas;
    json::array empty;
    auto add_service = [&](const json::value& s) {
        const auto* list = field(s, "replicas").if_array();
        if (list == nullptr || list->empty()) {
            empty.push_back(field(s, "name"));
            return;
        }
        for (const auto& r : *list) {
            replicas.push_back(&r);
        }
    };
    if (t && t->replica) {
        replicas.push_back(&last_.body);
    } else if (t) {
        add_service(last_.body);
    } else if (const auto* services = field(last_.body, "services").if_array()) {
        for (const auto& s : *services) {
            add_service(s);
        }
    }
    print_table(replicas, empty);
    return exit_ok;
}

int client::action() {
    if (opt_.operands.size() != 1) {
        return usage_error(opt_.command + " needs one SERVICE[/REPLICA]");
    }
    auto t = parse_target(opt_.operands[0]);
    if (!t) {
        return usage_error("'" + opt_.operands[0] + "' is not SERVICE or SERVICE/REPLICA");
    }
    if (auto code = call(bhttp::verb::post, resource_of(*t) + "/" + opt_.command)) {
        return *code;
    }
    if (opt_.json) {
        pretty(std::cout, last_.body);
    } else {
        const char* verb = opt_.command == "start"  ? "starting"
                           : opt_.command == "stop" ? "stopping"
                                                    : "restarting";
        std::cout << verb << " " << t->text() << "\n";
    }
    return exit_ok;
}

int client::reload() {
    if (!opt_.operands.empty()) {
        return usage_error("reload takes no operands");
    }
    auto code = call(bhttp::verb::post, "/v1/reload", json::object{{"dry_run", opt_.dry_run}});
    if (code && !(last_.status == 422 && !opt_.json)) {
        return *code;
    }
    if (opt_.json) {
        pretty(std::cout, last_.body);
        return exit_ok;
    }
    if (last_.status == 422) {
        if (const auto* errors = field(last_.body, "errors").if_array()) {
            for (const auto& e : *errors) {
                std::cerr << text_of(e, json::serialize(e)) << "\n";
            }
        }
        return exit_failed;
    }
    const auto* plan = field(last_.body, "plan").if_array();
    const std::size_t n = plan ? plan->size() : 0;
    if (n == 0) {
        std::cout << (opt_.dry_run ? "the fleet file is valid; a reload would change nothing\n"
                                   : "reloaded: nothing changed\n");
    } else {
        std::cout << (opt_.dry_run ? "a reload would make " : "reloaded: ") << n
                  << (n == 1 ? " change" : " changes") << ":\n";
        for (const auto& c : *plan) {
            std::string kind = text_of(field(c, "kind"), "changed");
            std::string detail = text_of(field(c, "detail"), "");
            std::cout << "  " << kind << std::string(kind.size() < 9 ? 9 - kind.size() : 1, ' ')
                      << text_of(field(c, "service")) << (detail.empty() ? "" : ": " + detail)
                      << "\n";
        }
    }
    const auto& applied = field(last_.body, "applied");
    if (!opt_.dry_run && n > 0 && !(applied.is_bool() && applied.get_bool())) {
        return failed("reload: berth did not apply the plan");
    }
    return exit_ok;
}

int client::shutdown() {
    if (!opt_.operands.empty()) {
        return usage_error("shutdown takes no operands");
    }
    if (auto code =
            call(bhttp::verb::post, "/v1/shutdown", json::object{{"reboot", opt_.reboot}})) {
        return *code;
    }
    if (opt_.json) {
        pretty(std::cout, last_.body);
    } else {
        std::cout << (opt_.reboot ? "berth is stopping the fleet; then the machine reboots\n"
                                  : "berth is stopping the fleet\n");
    }
    return exit_ok;
}

int client::version() {
    if (!opt_.operands.empty()) {
        return usage_error("version takes no operands");
    }
    if (!opt_.json) {
        std::cout << "berthctl " << BERTH_VERSION << "\n";
    }
    if (auto code = call(bhttp::verb::get, "/v1/version")) {
        return *code;
    }
    if (opt_.json) {
        pretty(std::cout, json::object{{"berthctl", BERTH_VERSION}, {"berth", last_.body}});
    } else {
        std::cout << "berth " << text_of(field(last_.body, "version")) << " (API "
                  << text_of(field(last_.body, "api")) << ")\n";
    }
    return exit_ok;
}

int client::logs() {
    if (opt_.operands.size() != 1) {
        return usage_error("logs needs one SERVICE/REPLICA");
    }
    auto t = parse_target(opt_.operands[0]);
    if (!t) {
        return usage_error("'" + opt_.operands[0] + "' is not SERVICE/REPLICA");
    }
    if (!t->replica) {
        // A service of one replica needs no number; with more, the user must choose.
        if (auto code = call(bhttp::verb::get, resource_of(*t))) {
            return *code;
        }
        const auto* list = field(last_.body, "replicas").if_array();
        if (list == nullptr || list->size() != 1) {
            const std::size_t n = list ? list->size() : 0;
            return usage_error("service " + t->service + " has " + std::to_string(n) +
                               " replicas; name one, as " + t->service + "/0");
        }
        t->replica = static_cast<std::uint32_t>(number_of(field((*list)[0], "index")).value_or(0));
    }
    if (auto code = call(bhttp::verb::get, resource_of(*t))) {
        return *code;
    }
    const std::string path = text_of(field(last_.body, "log_path"), "");
    if (path.empty()) {
        return failed(t->text() + " has no log file (its output goes to /dev/null)");
    }
    if (auto st = ctl::show_log(path, opt_.lines.value_or(10), opt_.follow); !st) {
        return failed(st.error().message());
    }
    return exit_ok;
}

// ---- dispatch ---------------------------------------------------------------------------

int client::run() {
    const std::string& c = opt_.command;
    // Command-specific options on the wrong command are usage errors, not silently ignored.
    for (const auto& o : opt_.used) {
        const bool ok = ((o == "-f" || o == "-n") && c == "logs") ||
                        (o == "--dry-run" && c == "reload") || (o == "--reboot" && c == "shutdown");
        if (!ok) {
            return usage_error("option '" + o + "' does not apply to '" + c + "'");
        }
    }
    if (c == "status") {
        return status();
    }
    if (c == "start" || c == "stop" || c == "restart") {
        return action();
    }
    if (c == "logs") {
        return logs();
    }
    if (c == "reload") {
        return reload();
    }
    if (c == "shutdown") {
        return shutdown();
    }
    if (c == "version") {
        return version();
    }
    return usage_error("unknown command '" + c + "'");
}

std::optional<std::size_t> parse_lines(const std::string& text) {
    if (text == "all") {
        return SIZE_MAX;
    }
    std::size_t n = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, n);
    if (text.empty() || ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return n;
}

// Parses the command line; returns an exit code when parsing already decided the outcome.
std::optional<int> parse(int argc, char** argv, options& opt) {
    bool operands_only = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const std::string& name) -> std::optional<std::string> {
            if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
                return a.substr(eq + 1);
            }
            if (a.size() > 2 && a[0] == '-' && a[1] != '-') {
                return a.substr(2); // -n5
            }
            if (i + 1 < argc) {
                return std::string(argv[++i]);
            }
            (void)name;
            return std::nullopt;
        };
        const std::string name = a.substr(0, a.find('='));
        if (operands_only || a.empty() || a[0] != '-' || a == "-") {
            (opt.command.empty() ? opt.command : opt.operands.emplace_back()) = a;
        } else if (a == "--") {
            operands_only = true;
        } else if (a == "-h" || a == "--help") {
            std::cout << help;
            return exit_ok;
        } else if (a == "--json") {
            opt.json = true;
        } else if (name == "--socket") {
            auto v = value(name);
            if (!v || v->empty()) {
                return usage_error("--socket needs the path of berth's control socket");
            }
            opt.socket = *v;
        } else if (a == "-f" || a == "--follow") {
            opt.follow = true;
            opt.used.push_back("-f");
        } else if (name == "--lines" || a.rfind("-n", 0) == 0) {
            auto v = value(name);
            auto n = v ? parse_lines(*v) : std::nullopt;
            if (!n) {
                return usage_error("-n needs a number of lines, or 'all'");
            }
            opt.lines = n;
            opt.used.push_back("-n");
        } else if (a == "--dry-run") {
            opt.dry_run = true;
            opt.used.push_back(a);
        } else if (a == "--reboot") {
            opt.reboot = true;
            opt.used.push_back(a);
        } else {
            return usage_error("unknown option '" + a + "'");
        }
    }
    if (opt.command.empty()) {
        return usage_error("no command given");
    }
    if (opt.command == "help") {
        std::cout << help;
        return exit_ok;
    }
    if (opt.socket.empty()) {
        const char* env = std::getenv("BERTH_SOCKET");
        opt.socket = env != nullptr && *env != '\0' ? env : default_socket;
    }
    return std::nullopt;
}

} // namespace

int main(int argc, char** argv) {
    try {
        options opt;
        if (auto code = parse(argc, argv, opt)) {
            return *code;
        }
        return client(std::move(opt)).run();
    } catch (const std::exception& e) {
        return failed(e.what());
    }
}
