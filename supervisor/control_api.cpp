// The control API's routes: the request target parsed with Boost.URL, bodies with Boost.JSON,
// each route one call into fleet_control.
#include "supervisor/control_api.hpp"

#include "config/suggest.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
// Boost.URL 1.81 as a header-only library: its definitions are compiled here, once for berth
// (Debian packages the compiled library separately; this saves a build dependency).
#include <boost/url/src.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>

namespace berth {
namespace {

namespace json = boost::json;

constexpr std::string_view api_version = "v1";

// ---- responses -------------------------------------------------------------------------

http::response reply(unsigned status, const json::value& body) {
    return http::response{status, "application/json", json::serialize(body) + "\n", {}};
}

http::response fail(unsigned status, std::string_view text) {
    return reply(status, json::object{{"error", text}});
}

// A fleet_control error as a response (see control_api.hpp for the mapping).
http::response fail(const error& err) {
    const std::string& text = err.context().empty() ? err.message() : err.context();
    switch (err.code()) {
    case ENOENT:
        return fail(404, text);
    case EINVAL:
    case ERANGE:
        return fail(400, text);
    case EBUSY:
    case EALREADY:
    case EAGAIN:
        return fail(409, text);
    default:
        return fail(500, err.message());
    }
}

// Empty strings are absent values: null in JSON.
json::value text_or_null(const std::string& s) {
    return s.empty() ? json::value(nullptr) : json::value(s);
}

template <typename T> json::value optional_or_null(const std::optional<T>& v) {
    return v ? json::value(*v) : json::value(nullptr);
}

json::value to_json(const replica_view& r) {
    return json::object{
        {"service", r.service},
        {"index", r.index},
        {"name", r.service + "/" + std::to_string(r.index)},
        {"state", r.state},
        {"pid", r.pid > 0 ? json::value(r.pid) : json::value(nullptr)},
        {"uptime_seconds", optional_or_null(r.uptime_seconds)},
        {"restarts", r.restarts},
        {"last_exit", text_or_null(r.last_exit)},
        {"last_exit_oom", r.last_exit_oom},
        {"failure", text_or_null(r.failure)},
        {"memory_bytes", optional_or_null(r.memory_bytes)},
        {"cpu_seconds", optional_or_null(r.cpu_seconds)},
        {"log_path", text_or_null(r.log_path)},
        {"cgroup_path", text_or_null(r.cgroup_path)},
    };
}

json::value to_json(const service_view& s) {
    json::array replicas;
    for (const auto& r : s.replicas) {
        replicas.push_back(to_json(r));
    }
    json::object labels;
    for (const auto& [key, value] : s.labels) {
        labels[key] = value;
    }
    return json::object{{"name", s.name},
                        {"desired", s.desired},
                        {"image", text_or_null(s.image)},
                        {"labels", std::move(labels)},
                        {"replicas", replicas}};
}

// ---- requests --------------------------------------------------------------------------

// What the request asks for, once the target is parsed.
struct parsed_target {
    std::string path;                  // as sent, for messages
    std::vector<std::string> segments; // percent-decoded, without a trailing empty one
    std::vector<std::pair<std::string, std::optional<std::string>>> query;
};

std::optional<parsed_target> parse_target(const std::string& target) {
    auto url = boost::urls::parse_origin_form(target);
    if (!url) {
        return std::nullopt;
    }
    parsed_target t;
    t.path = std::string(url->encoded_path());
    for (auto segment : url->segments()) {
        t.segments.push_back(std::string(segment));
    }
    if (!t.segments.empty() && t.segments.back().empty()) {
        t.segments.pop_back(); // "/v1/services/" is "/v1/services"
    }
    for (auto param : url->params()) {
        t.query.emplace_back(std::string(param.key), param.has_value
                                                         ? std::optional(std::string(param.value))
                                                         : std::nullopt);
    }
    return t;
}

// A request body: empty, or a JSON object with only the given boolean fields.
struct body_fields {
    std::map<std::string, bool, std::less<>> values;
    std::string problem; // non-empty: why the body is refused
};

body_fields parse_body(std::string_view body, std::initializer_list<std::string_view> allowed) {
    body_fields out;
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return out;
    }
    boost::system::error_code ec;
    json::value doc = json::parse(body, ec);
    if (ec) {
        out.problem = "request body: invalid JSON: " + ec.message();
        return out;
    }
    const json::object* object = doc.if_object();
    if (object == nullptr) {
        out.problem = "request body: expected a JSON object";
        return out;
    }
    for (const auto& [key, value] : *object) {
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
            out.problem = "request body: unknown field '" + std::string(key) + "'";
            if (allowed.size() > 0) {
                out.problem += "; expected '" + std::string(*allowed.begin()) + "'";
            }
            return out;
        }
        if (!value.is_bool()) {
            out.problem = "request body: '" + std::string(key) + "' must be true or false";
            return out;
        }
        out.values[std::string(key)] = value.get_bool();
    }
    return out;
}

std::optional<std::uint32_t> parse_index(std::string_view text) {
    std::uint32_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return value;
}

// ---- routes ----------------------------------------------------------------------------

enum class endpoint {
    version,
    services,
    service,
    service_action,
    replica,
    replica_action,
    reload,
    shutdown
};

struct route {
    endpoint what;
    std::string service;
    std::string replica; // as written; checked by the route
    std::string action;  // start, stop, restart
};

bool is_action(std::string_view s) {
    return s == "start" || s == "stop" || s == "restart";
}

// The route of /v1/... segments (the version segment already checked), if any.
std::optional<route> match(const std::vector<std::string>& s) {
    const std::size_t n = s.size();
    if (n == 2 && s[1] == "version") {
        return route{endpoint::version, {}, {}, {}};
    }
    if (n == 2 && s[1] == "reload") {
        return route{endpoint::reload, {}, {}, {}};
    }
    if (n == 2 && s[1] == "shutdown") {
        return route{endpoint::shutdown, {}, {}, {}};
    }
    if (n < 2 || s[1] != "services") {
        return std::nullopt;
    }
    if (n == 2) {
        return route{endpoint::services, {}, {}, {}};
    }
    if (n == 3) {
        return route{endpoint::service, s[2], {}, {}};
    }
    if (n == 4 && is_action(s[3])) {
        return route{endpoint::service_action, s[2], {}, s[3]};
    }
    if (n == 5 && s[3] == "replicas") {
        return route{endpoint::replica, s[2], s[4], {}};
    }
    if (n == 6 && s[3] == "replicas" && is_action(s[5])) {
        return route{endpoint::replica_action, s[2], s[4], s[5]};
    }
    return std::nullopt;
}

bool is_get(endpoint e) {
    return e == endpoint::version || e == endpoint::services || e == endpoint::service ||
           e == endpoint::replica;
}

class control_handler {
public:
    control_handler(fleet_control& fleet, control_options options)
        : fleet_(fleet), options_(std::move(options)) {}

    http::response handle(const http::request& req) {
        if (auto refused = check_peer(req)) {
            return *refused;
        }
        auto target = parse_target(req.target);
        if (!target) {
            return fail(400, "bad request target '" + req.target + "'");
        }
        const auto& seg = target->segments;
        if (seg.empty() || seg[0] != api_version) {
            if (!seg.empty() && seg[0].size() > 1 && seg[0][0] == 'v' &&
                parse_index(std::string_view(seg[0]).substr(1))) {
                return fail(404, "API version '" + seg[0] + "' is not served; this berth speaks " +
                                     std::string(api_version));
            }
            return fail(404, "no route for " + req.method + " " + target->path);
        }
        auto r = match(seg);
        if (!r) {
            return fail(404, "no route for " + req.method + " " + target->path);
        }
        const bool get = is_get(r->what);
        const bool method_ok =
            get ? (req.method == "GET" || req.method == "HEAD") : req.method == "POST";
        if (!method_ok) {
            auto refused = fail(405, "method '" + req.method + "' is not allowed on '" +
                                         target->path + "'; use " + (get ? "GET" : "POST"));
            refused.fields.emplace_back("Allow", get ? "GET, HEAD" : "POST");
            return refused;
        }
        if (r->what != endpoint::reload && !target->query.empty()) {
            return fail(400, "unknown query parameter '" + target->query.front().first + "'");
        }
        return dispatch(*r, req, *target);
    }

private:
    std::optional<http::response> check_peer(const http::request& req) const {
        if (!req.peer) {
            return fail(403, "permission denied: no peer credentials (the control API is "
                             "served on a Unix socket only)");
        }
        const auto& allowed = options_.allowed_uids;
        if (std::find(allowed.begin(), allowed.end(), req.peer->uid) == allowed.end()) {
            return fail(403, "permission denied: uid " + std::to_string(req.peer->uid) +
                                 " may not use the control API");
        }
        return std::nullopt;
    }

    http::response dispatch(const route& r, const http::request& req, const parsed_target& t) {
        switch (r.what) {
        case endpoint::version:
            return reply(
                200,
                json::object{{"name", "berth"}, {"version", BERTH_VERSION}, {"api", api_version}});
        case endpoint::services:
            return services();
        case endpoint::service:
            return service(r.service);
        case endpoint::replica:
            return replica(r.service, r.replica);
        case endpoint::service_action:
        case endpoint::replica_action:
            return action(r, req);
        case endpoint::reload:
            return reload(req, t);
        case endpoint::shutdown:
            return shutdown(req);
        }
        return fail(500, "internal error: unknown route");
    }

    http::response services() {
        json::array list;
        for (const auto& s : fleet_.services(std::nullopt)) {
            list.push_back(to_json(s));
        }
        return reply(200, json::object{{"services", list}});
    }

    // 404 with the nearest name, as berthctl's actions and the fleet file's errors give it.
    http::response unknown_service(const std::string& name) {
        std::vector<std::string> names;
        for (const auto& s : fleet_.services(std::nullopt)) {
            names.push_back(s.name);
        }
        std::vector<std::string_view> candidates(names.begin(), names.end());
        return fail(404,
                    "no service named '" + name + "'" + config::did_you_mean(name, candidates));
    }

    http::response service(const std::string& name) {
        auto views = fleet_.services(name);
        if (views.empty()) {
            return unknown_service(name);
        }
        return reply(200, to_json(views.front()));
    }

    http::response replica(const std::string& name, const std::string& index_text) {
        auto index = parse_index(index_text);
        if (!index) {
            return fail(400, "replica index '" + index_text + "' is not a number");
        }
        auto views = fleet_.services(name);
        if (views.empty()) {
            return unknown_service(name);
        }
        const auto& replicas = views.front().replicas;
        for (const auto& r : replicas) {
            if (r.index == *index) {
                return reply(200, to_json(r));
            }
        }
        std::string text = "service '" + name + "' has no replica " + index_text;
        if (!replicas.empty()) {
            text += " (replicas " + std::to_string(replicas.front().index) + ".." +
                    std::to_string(replicas.back().index) + ")";
        }
        return fail(404, text);
    }

    http::response action(const route& r, const http::request& req) {
        std::optional<std::uint32_t> index;
        if (r.what == endpoint::replica_action) {
            index = parse_index(r.replica);
            if (!index) {
                return fail(400, "replica index '" + r.replica + "' is not a number");
            }
        }
        auto body = parse_body(req.body, {});
        if (!body.problem.empty()) {
            return fail(400, body.problem);
        }
        status st = r.action == "start"  ? fleet_.start(r.service, index)
                    : r.action == "stop" ? fleet_.stop(r.service, index)
                                         : fleet_.restart(r.service, index);
        if (!st) {
            return fail(st.error());
        }
        return reply(200, json::object{{"action", r.action},
                                       {"service", r.service},
                                       {"replica", optional_or_null(index)}});
    }

    http::response reload(const http::request& req, const parsed_target& t) {
        std::optional<bool> dry_run;
        for (const auto& [key, value] : t.query) {
            if (key != "dry_run") {
                return fail(400, "unknown query parameter '" + key + "'; expected 'dry_run'");
            }
            if (!value || *value == "1" || *value == "true") {
                dry_run = true;
            } else if (*value == "0" || *value == "false") {
                dry_run = false;
            } else {
                return fail(400, "query parameter dry_run must be 1, 0, true or false, not '" +
                                     *value + "'");
            }
        }
        auto body = parse_body(req.body, {"dry_run"});
        if (!body.problem.empty()) {
            return fail(400, body.problem);
        }
        if (auto it = body.values.find("dry_run"); it != body.values.end()) {
            if (dry_run && *dry_run != it->second) {
                return fail(400, "dry_run differs between the query and the body");
            }
            dry_run = it->second;
        }
        return reload_reply(fleet_.reload(dry_run.value_or(false)), dry_run.value_or(false));
    }

    static http::response reload_reply(const reload_outcome& outcome, bool dry_run) {
        json::array errors;
        for (const auto& e : outcome.errors) {
            errors.push_back(json::value(e));
        }
        json::array plan;
        for (const auto& c : outcome.plan) {
            plan.push_back(json::object{
                {"kind", to_string(c.what)}, {"service", c.service}, {"detail", c.detail}});
        }
        json::object body{
            {"dry_run", dry_run}, {"applied", outcome.applied}, {"errors", errors}, {"plan", plan}};
        if (outcome.errors.empty()) {
            return reply(200, body);
        }
        const auto n = outcome.errors.size();
        body["error"] = "the fleet file has " + std::to_string(n) +
                        (n == 1 ? " error" : " errors") + "; nothing was changed";
        return reply(422, body);
    }

    http::response shutdown(const http::request& req) {
        auto body = parse_body(req.body, {"reboot"});
        if (!body.problem.empty()) {
            return fail(400, body.problem);
        }
        const bool reboot = body.values.contains("reboot") && body.values.at("reboot");
        auto res = reply(202, json::object{{"shutting_down", true}, {"reboot", reboot}});
        // Begins only once the client has its answer: stopping may end the loop at once.
        res.on_sent = [&fleet = fleet_, reboot] { fleet.shutdown(reboot); };
        return res;
    }

    fleet_control& fleet_;
    control_options options_;
};

} // namespace

http::handler make_control_handler(fleet_control& fleet, control_options options) {
    auto h = std::make_shared<control_handler>(fleet, std::move(options));
    return [h](const http::request& req) -> http::response {
        try {
            return h->handle(req);
        } catch (const std::exception& e) {
            return fail(500, std::string("internal error: ") + e.what());
        }
    };
}

} // namespace berth
