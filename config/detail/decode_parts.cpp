// Decoding the supervisor and image tables and the structured parts of a service: limits,
// readiness, env, namespaces and volumes.
#include "config/detail/decode_fleet.hpp"

#include "config/detail/text.hpp"
#include "config/replica.hpp"
#include "config/values.hpp"

#include <array>

namespace berth::config::detail {
namespace {

constexpr std::array<enum_name, 2> start_priority_names{{
    {"normal", static_cast<int>(start_priority::normal)},
    {"realtime", static_cast<int>(start_priority::realtime)},
}};

constexpr std::array<enum_name, 7> log_level_names{{
    {"trace", static_cast<int>(log_level::trace)},
    {"debug", static_cast<int>(log_level::debug)},
    {"info", static_cast<int>(log_level::info)},
    {"warn", static_cast<int>(log_level::warn)},
    {"error", static_cast<int>(log_level::error)},
    {"critical", static_cast<int>(log_level::critical)},
    {"off", static_cast<int>(log_level::off)},
}};

constexpr std::array<enum_name, 6> namespace_names{{
    {"mount", 0},
    {"pid", 1},
    {"uts", 2},
    {"ipc", 3},
    {"cgroup", 4},
    {"net", 5},
}};

constexpr std::array<enum_name, 2> readiness_names{{
    {"none", static_cast<int>(readiness::kind::none)},
    {"notify", static_cast<int>(readiness::kind::notify)},
}};
// The other form of readiness, for the message when it is neither.
constexpr std::string_view readiness_probe =
    "an exec probe table such as { exec = [\"/bin/check\"] }";

constexpr std::size_t max_socket_path = 107; // sizeof(sockaddr_un::sun_path) - 1
constexpr std::size_t max_volume_name = 255; // NAME_MAX: a named volume is a directory

bool& namespace_flag(namespace_set& set, int index) {
    switch (index) {
    case 0:
        return set.mount;
    case 1:
        return set.pid;
    case 2:
        return set.uts;
    case 3:
        return set.ipc;
    case 4:
        return set.cgroup;
    default:
        return set.net;
    }
}

std::optional<std::string> as_overlay_path(const field& f) {
    auto path = as_absolute_path(f);
    if (path && !overlay_safe(*path)) {
        f.error("expected a path without ':', ',' or '\\' (overlayfs option syntax), got " +
                quote(*path, shown_bytes));
        return std::nullopt;
    }
    return path;
}

std::optional<std::string> as_socket_path(const field& f) {
    auto path = as_absolute_path(f);
    if (path && path->size() > max_socket_path) {
        f.error("expected a socket path of at most 107 bytes (sun_path), got " +
                std::to_string(path->size()) + " bytes");
        return std::nullopt;
    }
    return path;
}

std::optional<std::optional<listen_address>> as_listen(const field& f) {
    auto text = as_string(f);
    if (!text) {
        return std::nullopt;
    }
    if (*text == "none") {
        return std::optional<listen_address>();
    }
    auto address = parse_listen_address(*text);
    if (!address) {
        f.error("expected \"IP:port\", \"[IPv6]:port\" or \"none\", got " +
                quote(*text, shown_bytes) + ": " + address.error());
        return std::nullopt;
    }
    return std::optional(*address);
}

std::optional<std::vector<std::filesystem::path>> as_layers(const field& f) {
    const auto* array = f.node.as_array();
    if (array == nullptr || array->empty()) {
        if (array == nullptr) {
            f.type_error("an array of layer directories");
        } else {
            f.error("expected at least one layer directory, got []");
        }
        return std::nullopt;
    }
    std::vector<std::filesystem::path> layers;
    bool ok = true;
    for (std::size_t i = 0; i < array->size(); ++i) {
        if (auto path = as_overlay_path(f.element(*array->get(i), i))) {
            layers.emplace_back(std::move(*path));
        } else {
            ok = false;
        }
    }
    return ok ? std::optional(std::move(layers)) : std::nullopt;
}

std::optional<std::string> as_image_ref(const field& f) {
    auto ref = as_string(f);
    if (ref && ref->empty()) {
        f.error("expected the name of an imported image, got \"\"");
        return std::nullopt;
    }
    return ref;
}

std::optional<std::string> as_cpuset(const field& f) {
    auto text = as_string(f);
    if (!text) {
        return std::nullopt;
    }
    auto list = parse_cpuset(*text);
    if (!list) {
        f.error("expected a CPU list such as \"0-3,5\", got " + quote(*text, shown_bytes) + ": " +
                list.error());
        return std::nullopt;
    }
    return std::move(list).value();
}

std::optional<std::string> as_env_value(const field& f) {
    if (const auto* i = f.node.as_integer()) {
        return std::to_string(i->get());
    }
    if (!f.node.is_string()) {
        f.type_error("a string");
        return std::nullopt;
    }
    return as_string(f);
}

std::optional<std::string> check_env_name(std::string_view name) {
    if (name.empty() || name.find('=') != std::string_view::npos ||
        name.find('\0') != std::string_view::npos) {
        return "an environment variable name must be non-empty, without '=' or NUL";
    }
    if (name.starts_with("BERTH_")) {
        return "names starting with BERTH_ are reserved (berth sets BERTH_SERVICE and "
               "BERTH_REPLICA)";
    }
    return std::nullopt;
}

std::optional<volume> as_volume(const field& f, std::string_view service_name) {
    auto text = as_string(f);
    if (!text) {
        return std::nullopt;
    }
    auto v = parse_volume(*text);
    if (v && v->type == volume::kind::named &&
        expand_placeholders(v->source, service_name, largest_replica_index).size() >
            max_volume_name) {
        v = parsed<volume>::failure("a volume name must be at most 255 bytes once expanded");
    }
    if (!v) {
        f.error("expected \"[source:]target[:ro]\" such as \"data:/var/lib/db\", got " +
                quote(*text, shown_bytes) + ": " + v.error());
        return std::nullopt;
    }
    return std::move(v).value();
}

} // namespace

bool overlay_safe(std::string_view path) {
    return path.find_first_of(":,\\") == std::string_view::npos;
}

supervisor_settings decode_supervisor(table_reader& r) {
    supervisor_settings s;
    (void)r.get("include"); // read by the loader; listed here so typos get a suggestion
    r.read("cgroup_root", s.cgroup_root, as_absolute_path);
    const auto state_dir = r.get("state_dir");
    if (state_dir) {
        decode_into(*state_dir, s.state_dir, as_overlay_path);
    }
    if (auto f = r.get("storage_dir")) {
        decode_into(*f, s.storage_dir, as_overlay_path);
    }
    if (auto f = r.get("control_socket")) {
        decode_into(*f, s.control_socket, as_socket_path);
    } else {
        s.control_socket = s.state_dir / "control.sock";
        if (s.control_socket.string().size() > max_socket_path) {
            r.error_at("state_dir", "state_dir is too long for the default control_socket "
                                    "(<state_dir>/control.sock must fit in 107 bytes); set "
                                    "control_socket");
        }
    }
    r.read("metrics_listen", s.metrics_listen, as_listen);
    r.read("shutdown_timeout", s.shutdown_timeout,
           [](const field& f) { return as_duration(f, duration{1}); });
    if (auto f = r.get("log_level")) {
        if (auto v = as_enum(*f, log_level_names)) {
            s.log_level = static_cast<log_level>(*v);
        }
    }
    if (auto f = r.get("start_priority")) {
        if (auto v = as_enum(*f, start_priority_names)) {
            s.start_priority = static_cast<start_priority>(*v);
        }
    }
    r.finish();
    return s;
}

std::optional<image> decode_image(reporter& report, const table_entry& entry) {
    const std::size_t errors_before = report.count();
    const field f{report, *entry.file, *entry.node, "image", entry.key->str()};
    const location self{entry.file, entry.key->source().begin};
    if (auto bad = check_name(entry.key->str())) {
        report.error(self, f.path(), "invalid image name: " + *bad);
        return std::nullopt;
    }
    const auto* table = entry.node->as_table();
    if (table == nullptr) {
        f.type_error("a table of image settings ([image.NAME])");
        return std::nullopt;
    }
    table_reader r(report, *entry.file, *table, f.path(), self);
    image out;
    out.name = entry.key->str();
    const auto layers = r.get("layers");
    const auto ref = r.get("ref");
    if (layers && ref) {
        ref->error("an image has either layers or ref, not both");
    } else if (layers) {
        decode_into(*layers, out.layers, as_layers);
    } else if (ref) {
        out.ref = as_image_ref(*ref);
    } else {
        r.missing("layers", "the layer directories, bottom first (or ref = \"NAME\")");
    }
    r.finish();
    return report.count() == errors_before ? std::optional(std::move(out)) : std::nullopt;
}

void decode_limits(const field& f, config::limits& out) {
    auto r = open_table(f, "a table of cgroup limits");
    if (!r) {
        return;
    }
    r->read("memory_max", out.memory_max, [](const field& v) { return as_size_limit(v, false); });
    r->read("memory_high", out.memory_high, [](const field& v) { return as_size_limit(v, false); });
    r->read("memory_swap_max", out.memory_swap_max,
            [](const field& v) { return as_size_limit(v, true); });
    r->read("pids_max", out.pids_max, as_pids_limit);
    r->read("cpu_max", out.cpu_max, as_cpu);
    const auto weight = [](const field& v) { return as_count(v, 1, 10'000); };
    r->read("cpu_weight", out.cpu_weight, weight);
    r->read("io_weight", out.io_weight, weight);
    r->read("cpuset_cpus", out.cpuset_cpus, as_cpuset);
    r->finish();
}

void decode_readiness(const field& f, config::readiness& out) {
    if (!f.node.is_table()) {
        if (auto v = as_enum(f, readiness_names, readiness_probe)) {
            out.type = static_cast<readiness::kind>(*v);
        }
        return;
    }
    auto r = open_table(f, "a readiness probe table");
    if (auto e = r->get("exec")) {
        out.type = readiness::kind::exec;
        auto argv = as_string_array(*e);
        if (argv && (argv->empty() || argv->front().empty() || argv->front().front() != '/')) {
            e->error("expected a probe command whose first element is an absolute path, such "
                     "as [\"/bin/check\"]");
        } else if (argv) {
            out.exec = std::move(*argv);
        }
    } else {
        r->missing("exec", "the probe command, e.g. exec = [\"/bin/check\"]");
    }
    const auto positive = [](const field& v) { return as_duration(v, duration{1}); };
    r->read("interval", out.interval, positive);
    r->read("timeout", out.timeout, positive);
    r->read("retries", out.retries, [](const field& v) { return as_count(v, 1, 1'000'000); });
    r->finish();
}

std::optional<std::map<std::string, std::string>> decode_env(const field& f) {
    auto r = open_table(f, "a table of environment variables, e.g. { MODE = \"prod\" }");
    if (!r) {
        return std::nullopt;
    }
    const auto* table = f.node.as_table();
    std::map<std::string, std::string> env;
    bool ok = true;
    for (const auto& [key, node] : *table) {
        const field value = *r->get(key.str());
        if (auto bad = check_env_name(key.str())) {
            value.error(*bad);
            ok = false;
        } else if (auto text = as_env_value(value)) {
            env.emplace(key.str(), std::move(*text));
        } else {
            ok = false;
        }
    }
    return ok ? std::optional(std::move(env)) : std::nullopt;
}

std::optional<namespace_set> decode_namespaces(const field& f) {
    const auto* array = f.node.as_array();
    if (array == nullptr) {
        f.type_error("an array of namespaces from \"mount\", \"pid\", \"uts\", \"ipc\", "
                     "\"cgroup\", \"net\"");
        return std::nullopt;
    }
    namespace_set set{false, false, false, false, false, false};
    bool ok = true;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const field element = f.element(*array->get(i), i);
        const auto index = as_enum(element, namespace_names);
        if (!index) {
            ok = false;
            continue;
        }
        bool& flag = namespace_flag(set, *index);
        if (flag) {
            element.error("namespace " + quote(namespace_names[*index].name) + " is listed twice");
            ok = false;
        }
        flag = true;
    }
    return ok ? std::optional(set) : std::nullopt;
}

std::optional<std::vector<volume>> decode_volumes(const field& f, std::string_view service_name) {
    const auto* array = f.node.as_array();
    if (array == nullptr) {
        f.type_error("an array of volumes such as [\"data:/var/lib/db\", \"/srv:/srv:ro\"]");
        return std::nullopt;
    }
    std::vector<volume> volumes;
    bool ok = true;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const field element = f.element(*array->get(i), i);
        auto v = as_volume(element, service_name);
        if (v && std::any_of(volumes.begin(), volumes.end(),
                             [&](const volume& other) { return other.target == v->target; })) {
            element.error("two volumes mount on " + quote(v->target.string(), shown_bytes));
            v.reset();
        }
        if (!v) {
            ok = false;
            continue;
        }
        volumes.push_back(std::move(*v));
    }
    return ok ? std::optional(std::move(volumes)) : std::nullopt;
}

} // namespace berth::config::detail
