// Computing a reload's plan.
#include "supervisor/reload.hpp"

#include "config/loader.hpp"

namespace berth {
namespace {

// The names of the settings that differ between two versions of a service (replicas aside).
std::string differences(const config::service& a, const config::service& b) {
    std::vector<std::string> names;
    auto note = [&](bool differ, const char* name) {
        if (differ) {
            names.emplace_back(name);
        }
    };
    note(a.image != b.image, "image");
    note(a.command != b.command, "command");
    note(a.env != b.env, "env");
    note(a.limits != b.limits || a.service_limits != b.service_limits, "limits");
    note(a.namespaces != b.namespaces, "namespaces");
    note(a.user != b.user || a.working_dir != b.working_dir || a.hostname != b.hostname,
         "user/working_dir/hostname");
    note(a.restart != b.restart || a.restart_delay != b.restart_delay ||
             a.restart_delay_max != b.restart_delay_max ||
             a.start_limit_burst != b.start_limit_burst ||
             a.start_limit_interval != b.start_limit_interval,
         "restart policy");
    note(a.after != b.after || a.required != b.required, "dependencies");
    std::string out;
    for (const auto& n : names) {
        out += out.empty() ? n : ", " + n;
    }
    return out.empty() ? "settings" : out;
}

const config::image* image_of(const config::fleet& f, const config::service& s) {
    return s.image ? f.find_image(*s.image) : nullptr;
}

} // namespace

std::vector<reload_change> plan_reload(const config::fleet& running, const config::fleet& next) {
    std::vector<reload_change> plan;
    for (const config::service* s : config::start_order(next)) {
        const config::service* old = running.find_service(s->name);
        if (old == nullptr) {
            plan.push_back(
                {reload_change::kind::added, s->name, std::to_string(s->replicas) + " replicas"});
            continue;
        }
        config::service same_count = *old;
        same_count.replicas = s->replicas;
        const config::image* old_image = image_of(running, *old);
        const config::image* new_image = image_of(next, *s);
        bool image_changed = (old_image == nullptr) != (new_image == nullptr) ||
                             (old_image != nullptr && *old_image != *new_image);
        if (same_count != *s || image_changed) {
            std::string what = same_count != *s ? differences(*old, *s) : "image layers";
            plan.push_back({reload_change::kind::changed, s->name, what + " changed"});
        } else if (old->replicas != s->replicas) {
            plan.push_back({reload_change::kind::scaled, s->name,
                            "replicas " + std::to_string(old->replicas) + " -> " +
                                std::to_string(s->replicas)});
        }
    }
    auto old_order = config::start_order(running);
    for (auto it = old_order.rbegin(); it != old_order.rend(); ++it) {
        if (next.find_service((*it)->name) == nullptr) {
            plan.push_back({reload_change::kind::removed, (*it)->name, ""});
        }
    }
    return plan;
}

} // namespace berth
