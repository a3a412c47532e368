// Rendering a fleet as normalized TOML, in schema order, with every default written out.
#include "config/normalize.hpp"

#include "config/detail/text.hpp"
#include "config/units.hpp"
#include "config/values.hpp"

#include <array>

namespace berth::config {
namespace {

using detail::key_text;
using detail::quote;

std::string string_array(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        out += (i == 0 ? "" : ", ") + quote(items[i]);
    }
    return out + "]";
}

std::string path_array(const std::vector<std::filesystem::path>& paths) {
    std::vector<std::string> items;
    for (const auto& p : paths) {
        items.push_back(p.string());
    }
    return string_array(items);
}

std::string_view restart_name(restart_policy policy) {
    switch (policy) {
    case restart_policy::always:
        return "always";
    case restart_policy::on_failure:
        return "on-failure";
    case restart_policy::never:
        break;
    }
    return "never";
}

std::string_view log_level_name(log_level level) {
    constexpr std::array<std::string_view, 7> names{"trace", "debug",    "info", "warn",
                                                    "error", "critical", "off"};
    return names[static_cast<std::size_t>(level)];
}

std::string namespaces_text(const namespace_set& set) {
    std::vector<std::string> names;
    const std::array<std::pair<bool, const char*>, 6> flags{{{set.mount, "mount"},
                                                             {set.pid, "pid"},
                                                             {set.uts, "uts"},
                                                             {set.ipc, "ipc"},
                                                             {set.cgroup, "cgroup"},
                                                             {set.net, "net"}}};
    for (const auto& [on, name] : flags) {
        if (on) {
            names.emplace_back(name);
        }
    }
    return string_array(names);
}

std::string readiness_text(const readiness& r) {
    switch (r.type) {
    case readiness::kind::none:
        return "\"none\"";
    case readiness::kind::notify:
        return "\"notify\"";
    case readiness::kind::exec:
        break;
    }
    return "{ exec = " + string_array(r.exec) +
           ", interval = " + quote(format_duration(r.interval)) +
           ", timeout = " + quote(format_duration(r.timeout)) +
           ", retries = " + std::to_string(r.retries) + " }";
}

std::string signal_text(int number) {
    std::string text = format_signal(number);
    return text.starts_with("SIG") ? quote(text) : text;
}

std::string volumes_text(const std::vector<volume>& volumes) {
    std::vector<std::string> items;
    for (const auto& v : volumes) {
        items.push_back(format_volume(v));
    }
    return string_array(items);
}

class writer {
public:
    void header(const std::string& name) {
        if (!out_.empty()) {
            out_ += '\n';
        }
        out_ += "[" + name + "]\n";
    }
    void line(std::string_view key, const std::string& value) {
        out_ += key_text(key) + " = " + value + "\n";
    }
    void comment(std::string_view text) { out_ += "# " + std::string(text) + "\n"; }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

void write_supervisor(writer& w, const supervisor_settings& s) {
    w.header("supervisor");
    if (s.cgroup_root) {
        w.line("cgroup_root", quote(s.cgroup_root->string()));
    } else {
        w.comment("cgroup_root unset: the supervisor decides (PID 1: the cgroup2 root; host: "
                  "<cgroup2 mount>/berth)");
    }
    w.line("state_dir", quote(s.state_dir.string()));
    w.line("storage_dir", quote(s.storage_dir.string()));
    w.line("control_socket", quote(s.control_socket.string()));
    w.line("metrics_listen",
           quote(s.metrics_listen ? format_listen_address(*s.metrics_listen) : "none"));
    w.line("shutdown_timeout", quote(format_duration(s.shutdown_timeout)));
    w.line("log_level", quote(log_level_name(s.log_level)));
    w.line("start_priority",
           quote(s.start_priority == start_priority::normal ? "normal" : "realtime"));
}

void write_image(writer& w, const image& im) {
    w.header("image." + key_text(im.name));
    if (im.ref) {
        w.line("ref", quote(*im.ref));
    } else {
        w.line("layers", path_array(im.layers));
    }
}

void write_limits(writer& w, const std::string& name, const limits& l) {
    if (l.empty()) {
        return;
    }
    w.header(name);
    const auto size = [](const limit_value& v) {
        return quote(v.is_max() ? "max" : format_size(v.amount()));
    };
    const std::array<std::pair<const char*, const std::optional<limit_value>*>, 3> sizes{{
        {"memory_max", &l.memory_max},
        {"memory_high", &l.memory_high},
        {"memory_swap_max", &l.memory_swap_max},
    }};
    for (const auto& [key, value] : sizes) {
        if (*value) {
            w.line(key, size(**value));
        }
    }
    if (l.pids_max) {
        w.line("pids_max", l.pids_max->is_max() ? "\"max\"" : std::to_string(l.pids_max->amount()));
    }
    if (l.cpu_max) {
        w.line("cpu_max", quote(format_cpu(*l.cpu_max)));
    }
    if (l.cpu_weight) {
        w.line("cpu_weight", std::to_string(*l.cpu_weight));
    }
    if (l.io_weight) {
        w.line("io_weight", std::to_string(*l.io_weight));
    }
    if (l.cpuset_cpus) {
        w.line("cpuset_cpus", quote(*l.cpuset_cpus));
    }
}

void write_lifecycle(writer& w, const service& s) {
    w.line("replicas", std::to_string(s.replicas));
    w.line("restart", quote(restart_name(s.restart)));
    w.line("restart_delay", quote(format_duration(s.restart_delay)));
    w.line("restart_delay_max", quote(format_duration(s.restart_delay_max)));
    w.line("start_limit_burst", std::to_string(s.start_limit_burst));
    w.line("start_limit_interval", quote(format_duration(s.start_limit_interval)));
    w.line("start_timeout", quote(format_duration(s.start_timeout)));
    w.line("stop_timeout", quote(format_duration(s.stop_timeout)));
    w.line("stop_signal", signal_text(s.stop_signal));
    w.line("after", string_array(s.after));
    w.line("requires", string_array(s.required));
}

void write_process(writer& w, const service& s) {
    w.line("working_dir", quote(s.working_dir.string()));
    w.line("user", quote(format_user(s.user)));
    if (s.hostname) {
        w.line("hostname", quote(*s.hostname));
    }
    w.line("namespaces", namespaces_text(s.namespaces));
    w.line("init", s.init ? "true" : "false");
    w.line("readiness", readiness_text(s.readiness));
    if (s.watchdog_timeout) {
        w.line("watchdog_timeout", quote(format_duration(*s.watchdog_timeout)));
    }
    w.line("log_max_size", quote(format_size(s.log_max_size)));
    w.line("log_max_files", std::to_string(s.log_max_files));
    if (s.image) {
        w.line("upper", quote(s.upper == upper_kind::tmpfs ? "tmpfs" : "disk"));
        const char* how = s.root_switch == root_switch::on_template ? "template"
                          : s.root_switch == root_switch::pivot     ? "pivot"
                                                                    : "move";
        w.line("root_switch", quote(how));
    }
    w.line("volumes", volumes_text(s.volumes));
}

void write_service(writer& w, const service& s) {
    const std::string name = "service." + key_text(s.name);
    w.header(name);
    if (s.image) {
        w.line("image", quote(*s.image));
    } else {
        w.comment("image is unset: the host's root, no rootfs change");
    }
    if (s.command.empty()) {
        w.comment("command unset: the image's Entrypoint and Cmd");
    } else {
        w.line("command", string_array(s.command));
    }
    write_lifecycle(w, s);
    write_process(w, s);
    if (s.env.empty()) {
        w.line("env", "{}");
    } else {
        w.header(name + ".env");
        for (const auto& [key, value] : s.env) {
            w.line(key, quote(value));
        }
    }
    write_limits(w, name + ".limits", s.limits);
    write_limits(w, name + ".service_limits", s.service_limits);
}

} // namespace

std::string render_toml(const fleet& f) {
    writer w;
    write_supervisor(w, f.supervisor);
    for (const auto& im : f.images) {
        write_image(w, im);
    }
    for (const auto& s : f.services) {
        write_service(w, s);
    }
    return w.take();
}

} // namespace berth::config
