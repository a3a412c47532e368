// Rendering a shim_spec into berth-shim's argv (keys as documented in shim/protocol.h).
#include "engine/shim_spec.hpp"

namespace berth {
namespace {

std::string join(const std::vector<std::string>& words, char sep) {
    std::string out;
    for (const auto& w : words) {
        if (!out.empty()) {
            out += sep;
        }
        out += w;
    }
    return out;
}

std::string limit_text(const std::optional<std::uint64_t>& v) {
    return v ? std::to_string(*v) : "inf";
}

} // namespace

std::vector<std::string> shim_argv(const shim_spec& spec) {
    std::vector<std::string> argv{"berth-shim", "name=" + spec.name};
    if (spec.sched_other) {
        argv.push_back("sched=other");
    }
    if (!spec.namespaces.empty()) {
        argv.push_back("ns=" + join(spec.namespaces, ','));
    }
    if (!spec.lower.empty()) {
        argv.push_back("lower=" + spec.lower);
        argv.push_back("scratch=" + spec.scratch);
        if (spec.scratch_size) {
            argv.push_back("scratch_size=" + std::to_string(*spec.scratch_size));
        }
        if (!spec.dev.empty()) {
            argv.push_back("dev=" + spec.dev);
        }
        if (spec.root_switch == shim_root_switch::move) {
            argv.push_back("root_switch=move");
        } else if (spec.root_switch == shim_root_switch::on_template) {
            argv.push_back("root_switch=template");
        }
    }
    for (const auto& v : spec.volumes) {
        argv.push_back("volume=" + v.source + ":" + v.target + (v.read_only ? ":ro" : ""));
    }
    if (!spec.hostname.empty()) {
        argv.push_back("hostname=" + spec.hostname);
    }
    if (!spec.cwd.empty()) {
        argv.push_back("cwd=" + spec.cwd);
    }
    if (spec.uid) {
        argv.push_back("uid=" + std::to_string(*spec.uid));
    }
    if (spec.gid) {
        argv.push_back("gid=" + std::to_string(*spec.gid));
    }
    if (!spec.groups.empty()) {
        std::vector<std::string> ids;
        for (gid_t g : spec.groups) {
            ids.push_back(std::to_string(g));
        }
        argv.push_back("groups=" + join(ids, ','));
    }
    for (const auto& r : spec.rlimits) {
        argv.push_back("rlimit=" + r.resource + ":" + limit_text(r.soft) + ":" +
                       limit_text(r.hard));
    }
    if (spec.keep_all_caps) {
        argv.push_back("caps=all");
    }
    if (spec.join) {
        argv.push_back("join=" + std::to_string(*spec.join));
    }
    if (spec.init) {
        argv.push_back("init=1");
    }
    argv.push_back("--");
    argv.insert(argv.end(), spec.command.begin(), spec.command.end());
    return argv;
}

} // namespace berth
