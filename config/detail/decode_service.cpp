// Decoding one [service.NAME] table: its keys in schema order, then the checks that span
// several keys of the same service.
#include "config/detail/decode_fleet.hpp"

#include "config/detail/text.hpp"
#include "config/replica.hpp"
#include "config/values.hpp"

#include <array>

namespace berth::config::detail {
namespace {

constexpr std::array<enum_name, 3> restart_names{{
    {"always", static_cast<int>(restart_policy::always)},
    {"on-failure", static_cast<int>(restart_policy::on_failure)},
    {"never", static_cast<int>(restart_policy::never)},
}};

constexpr std::array<enum_name, 2> upper_names{{
    {"tmpfs", static_cast<int>(upper_kind::tmpfs)},
    {"disk", static_cast<int>(upper_kind::disk)},
}};

constexpr std::array<enum_name, 3> root_switch_names{{
    {"template", static_cast<int>(root_switch::on_template)},
    {"pivot", static_cast<int>(root_switch::pivot)},
    {"move", static_cast<int>(root_switch::move)},
}};

// Fields whose presence matters to the cross-key checks.
struct given {
    std::optional<field> image;
    std::optional<field> hostname;
    std::optional<field> volumes;
    std::optional<field> upper;
    std::optional<field> root_switch;
    std::optional<field> watchdog_timeout;
    std::optional<field> restart_delay_max;
};

// Like table_reader::get, into a member of `given` (field is copyable, not assignable).
bool take(table_reader& r, std::string_view key, std::optional<field>& into) {
    if (auto f = r.get(key)) {
        into.emplace(*f);
        return true;
    }
    return false;
}

std::optional<std::vector<std::string>> as_command(const field& f) {
    auto argv = as_string_array(f);
    if (!argv) {
        return std::nullopt;
    }
    if (argv->empty()) {
        f.error("expected a non-empty array such as [\"/bin/httpd\", \"-f\"], got []");
        return std::nullopt;
    }
    if (argv->front().empty() || argv->front().front() != '/') {
        f.element(f.node, 0).error("expected an absolute path to the program (there is no "
                                   "PATH lookup), got " +
                                   quote(argv->front(), shown_bytes));
        return std::nullopt;
    }
    return argv;
}

std::optional<std::string> as_reference(const field& f, std::string_view what) {
    auto name = as_string(f);
    if (!name) {
        return std::nullopt;
    }
    if (auto bad = check_name(*name)) {
        f.error("expected the name of " + std::string(what) + ", got " + quote(*name, shown_bytes) +
                ": " + *bad);
        return std::nullopt;
    }
    return name;
}

// An array of service names; references receives one entry per name. When some elements are
// bad, the good ones are still returned (after reporting the others), so that the references
// of a broken service are checked too.
std::optional<std::vector<std::string>> as_service_list(const field& f,
                                                        std::vector<list_reference>& references) {
    const auto* array = f.node.as_array();
    if (array == nullptr) {
        f.type_error("an array of service names");
        return std::nullopt;
    }
    std::vector<std::string> names;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const field element = f.element(*array->get(i), i);
        auto name = as_reference(element, "a service");
        if (name && std::find(names.begin(), names.end(), *name) != names.end()) {
            element.error("service " + quote(*name) + " is listed twice");
            name.reset();
        }
        if (name) {
            names.push_back(std::move(*name));
            references.push_back(list_reference{element.where(), i});
        }
    }
    return names;
}

std::optional<std::string> as_hostname(const field& f, std::string_view service_name) {
    auto text = as_string(f);
    if (!text) {
        return std::nullopt;
    }
    std::optional<std::string> bad = check_placeholders(*text);
    if (!bad) {
        bad = check_hostname(expand_placeholders(*text, service_name, largest_replica_index));
    }
    if (bad) {
        f.error("expected a hostname such as \"web-{replica}\", got " + quote(*text, shown_bytes) +
                ": " + *bad);
        return std::nullopt;
    }
    return text;
}

std::optional<credentials> as_user(const field& f) {
    auto text = as_string(f);
    if (!text) {
        return std::nullopt;
    }
    auto user = parse_user(*text);
    if (!user) {
        f.error("expected \"uid\" or \"uid:gid\", got " + quote(*text, shown_bytes) + ": " +
                user.error());
        return std::nullopt;
    }
    return *user;
}

void read_identity(table_reader& r, service& s, service_refs& refs, given& g) {
    if (take(r, "image", g.image)) {
        if (auto name = as_reference(*g.image, "an image")) {
            s.image = std::move(*name);
            refs.image = g.image->where();
        }
    }
    if (auto f = r.get("command")) {
        refs.command_given = true;
        decode_into(*f, s.command, as_command);
    } else if (!s.image) {
        // With an image, validate_references decides: an imported (ref) image's Entrypoint
        // and Cmd are the default command, a layers image has none.
        r.missing("command", "the program and its arguments, e.g. command = [\"/bin/httpd\"]");
    }
}

void read_lifecycle(table_reader& r, service& s, given& g) {
    r.read("replicas", s.replicas, [](const field& f) { return as_count(f, 0, 100'000); });
    if (auto f = r.get("restart")) {
        if (auto v = as_enum(*f, restart_names)) {
            s.restart = static_cast<restart_policy>(*v);
        }
    }
    const auto any = [](const field& f) { return as_duration(f, duration{0}); };
    const auto positive = [](const field& f) { return as_duration(f, duration{1}); };
    r.read("restart_delay", s.restart_delay, any);
    if (take(r, "restart_delay_max", g.restart_delay_max)) {
        decode_into(*g.restart_delay_max, s.restart_delay_max, positive);
    } else {
        s.restart_delay_max = std::max(s.restart_delay_max, s.restart_delay);
    }
    r.read("start_limit_burst", s.start_limit_burst,
           [](const field& f) { return as_count(f, 0, 100'000); });
    r.read("start_limit_interval", s.start_limit_interval, positive);
    r.read("start_timeout", s.start_timeout, positive);
    r.read("stop_timeout", s.stop_timeout, positive);
    r.read("stop_signal", s.stop_signal, as_signal);
}

void read_dependencies(table_reader& r, service& s, service_refs& refs) {
    r.read("after", s.after, [&](const field& f) { return as_service_list(f, refs.after); });
    r.read("requires", s.required,
           [&](const field& f) { return as_service_list(f, refs.required); });
}

void read_process(table_reader& r, service& s, given& g) {
    r.read("env", s.env, decode_env);
    r.read("working_dir", s.working_dir, as_absolute_path);
    r.read("user", s.user, as_user);
    if (take(r, "hostname", g.hostname)) {
        s.hostname = as_hostname(*g.hostname, s.name);
    }
    r.read("namespaces", s.namespaces, decode_namespaces);
    r.read("init", s.init, as_bool);
}

void read_readiness(table_reader& r, service& s, given& g) {
    if (auto f = r.get("readiness")) {
        decode_readiness(*f, s.readiness);
    }
    if (take(r, "watchdog_timeout", g.watchdog_timeout)) {
        s.watchdog_timeout = as_duration(*g.watchdog_timeout, duration{1});
    }
}

void read_storage(table_reader& r, service& s, given& g) {
    r.read("log_max_size", s.log_max_size, [](const field& f) { return as_size(f, false); });
    r.read("log_max_files", s.log_max_files, [](const field& f) { return as_count(f, 1, 1000); });
    if (take(r, "upper", g.upper)) {
        if (auto v = as_enum(*g.upper, upper_names)) {
            s.upper = static_cast<upper_kind>(*v);
        }
    }
    if (take(r, "root_switch", g.root_switch)) {
        if (auto v = as_enum(*g.root_switch, root_switch_names)) {
            s.root_switch = static_cast<root_switch>(*v);
        }
    }
    if (take(r, "volumes", g.volumes)) {
        decode_into(*g.volumes, s.volumes,
                    [&](const field& f) { return decode_volumes(f, s.name); });
    }
    if (auto f = r.get("limits")) {
        decode_limits(*f, s.limits);
    }
    if (auto f = r.get("service_limits")) {
        decode_limits(*f, s.service_limits);
    }
}

// Rules that tie keys together; each reports at the key that would have to change.
void check_consistency(service& s, const given& g) {
    if (g.image && s.image && !s.namespaces.mount) {
        g.image->error("an image needs the \"mount\" namespace (add it to namespaces)");
    }
    if (g.volumes && !s.volumes.empty() && !s.namespaces.mount) {
        g.volumes->error("volumes need the \"mount\" namespace (add it to namespaces)");
    }
    if (g.upper && !g.image) {
        g.upper->error("upper only applies to a service with an image");
    }
    if (g.root_switch && !g.image) {
        g.root_switch->error("root_switch only applies to a service with an image");
    }
    if (g.hostname && !s.namespaces.uts) {
        g.hostname->error("hostname needs the \"uts\" namespace (without it, it would rename "
                          "the host)");
    }
    if (!g.hostname) {
        s.hostname =
            s.namespaces.uts ? std::optional<std::string>("{service}-{replica}") : std::nullopt;
    }
    if (g.watchdog_timeout && s.readiness.type != readiness::kind::notify) {
        g.watchdog_timeout->error("watchdog_timeout needs readiness = \"notify\" (the service "
                                  "sends WATCHDOG=1)");
    }
    if (g.restart_delay_max && s.restart_delay_max < s.restart_delay) {
        g.restart_delay_max->error("expected at least restart_delay (" +
                                   format_duration(s.restart_delay) + "), got " +
                                   quote(format_duration(s.restart_delay_max)));
    }
}

} // namespace

std::optional<decoded_service> decode_service(reporter& report, const table_entry& entry) {
    const std::size_t errors_before = report.count();
    const field f{report, *entry.file, *entry.node, "service", entry.key->str()};
    decoded_service d;
    d.refs.self = location{entry.file, entry.key->source().begin};
    d.refs.path = f.path();
    if (auto bad = check_name(entry.key->str())) {
        report.error(d.refs.self, d.refs.path, "invalid service name: " + *bad);
        return std::nullopt;
    }
    const auto* table = entry.node->as_table();
    if (table == nullptr) {
        f.type_error("a table of service settings ([service.NAME])");
        return std::nullopt;
    }
    table_reader reader(report, *entry.file, *table, d.refs.path, d.refs.self);
    service& s = d.service;
    s.name = entry.key->str();
    given g;
    read_identity(reader, s, d.refs, g);
    read_lifecycle(reader, s, g);
    read_dependencies(reader, s, d.refs);
    read_process(reader, s, g);
    read_readiness(reader, s, g);
    read_storage(reader, s, g);
    reader.finish();
    check_consistency(s, g);
    d.broken = report.count() != errors_before;
    return d;
}

} // namespace berth::config::detail
