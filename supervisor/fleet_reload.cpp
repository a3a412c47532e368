// The fleet_runner's live reload: re-read the fleet file, plan, and apply the plan while the
// fleet keeps running (retiring changed and removed services, scaling, adding).
#include "config/loader.hpp"
#include "engine/log.hpp"
#include "supervisor/fleet_runner.hpp"
#include "supervisor/reload.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>

namespace berth {
namespace {

std::shared_ptr<spdlog::logger> logger() {
    return log::get("supervisor");
}

} // namespace

reload_outcome fleet_runner::reload(bool dry_run) {
    reload_outcome out;
    auto loaded = config::load_fleet(config_path_);
    if (!loaded.ok()) {
        for (const auto& d : loaded.diagnostics) {
            out.errors.push_back(d.to_string());
            logger()->error("reload: {}", d.to_string());
        }
        logger()->error("reload: {}: {} errors; the running fleet is unchanged",
                        config_path_.string(), out.errors.size());
        return out;
    }
    out.plan = plan_reload(fleet_, *loaded.fleet);
    if (dry_run) {
        return out;
    }
    if (shutting_down_) {
        out.errors.push_back("the fleet is shutting down");
        return out;
    }
    for (const auto& c : out.plan) {
        logger()->info("reload: {} {}{}{}", to_string(c.what), c.service,
                       c.detail.empty() ? "" : ": ", c.detail);
    }
    if (out.plan.empty()) {
        logger()->info("reload: no service changed");
    }
    apply(*loaded.fleet, out.plan);
    out.applied = true;
    return out;
}

void fleet_runner::apply(const config::fleet& next, const std::vector<reload_change>& plan) {
    auto previous = std::move(fleet_);
    fleet_ = next;
    fleet_.supervisor = previous.supervisor; // [supervisor] changes need a restart of berth
    for (const auto& c : plan) {
        const config::service* spec = fleet_.find_service(c.service);
        switch (c.what) {
        case reload_change::kind::added: {
            auto svc = make_service(*spec);
            report_service(*svc);
            by_name_[c.service] = svc.get();
            services_.push_back(std::move(svc));
            break;
        }
        case reload_change::kind::removed:
            retire(c.service, std::nullopt);
            break;
        case reload_change::kind::changed:
            retire(c.service, *spec);
            break;
        case reload_change::kind::scaled:
            by_name_.at(c.service)->scale(spec->replicas);
            report_service(*by_name_.at(c.service));
            break;
        }
    }
    // Keep the new start order: shutdown and status walk services_ in it.
    std::vector<std::unique_ptr<service_runtime>> ordered;
    for (const config::service* s : config::start_order(fleet_)) {
        for (auto& svc : services_) {
            if (svc && svc->name() == s->name) {
                ordered.push_back(std::move(svc));
            }
        }
    }
    services_ = std::move(ordered);
    rebuild_dependents();
    for (const auto& c : plan) {
        if (c.what == reload_change::kind::added) {
            launch(*by_name_.at(c.service));
        }
    }
    schedule_reconcile();
}

// Takes a service out of the fleet: it stops (dependents first, as at shutdown is not needed
// here: its dependents are changed or removed by the same reload, or keep running), and once
// stopped its replacement, if any, starts.
void fleet_runner::retire(const std::string& name, std::optional<config::service> replacement) {
    auto it = std::find_if(services_.begin(), services_.end(),
                           [&](const auto& s) { return s->name() == name; });
    if (it == services_.end()) {
        return;
    }
    auto svc = std::move(*it);
    services_.erase(it);
    by_name_.erase(name);
    if (replacement) {
        replacements_.insert_or_assign(name, std::move(*replacement));
    }
    service_runtime& ref = *svc;
    retiring_.push_back(std::move(svc));
    ref.stop_all();
}

void fleet_runner::schedule_reconcile() {
    if (reconcile_posted_) {
        return;
    }
    reconcile_posted_ = true;
    // Later, on the loop: never destroy a service or replica from inside its own event.
    boost::asio::post(io_, [this] { reconcile(); });
}

void fleet_runner::reconcile() {
    reconcile_posted_ = false;
    for (auto it = retiring_.begin(); it != retiring_.end();) {
        service_runtime& old = **it;
        if (!old.stopped()) {
            ++it;
            continue;
        }
        std::string name = old.name();
        old.remove_cgroups();
        release_image(old);
        it = retiring_.erase(it);
        auto repl = replacements_.find(name);
        if (repl == replacements_.end()) {
            logger()->info("reload: service {} removed", name);
            if (metrics_ && !by_name_.contains(name)) { // not added again meanwhile
                metrics_->service_removed(name);
            }
            continue;
        }
        auto svc = make_service(repl->second);
        report_service(*svc);
        replacements_.erase(repl);
        by_name_[name] = svc.get();
        services_.push_back(std::move(svc));
        std::vector<std::unique_ptr<service_runtime>> ordered;
        for (const config::service* s : config::start_order(fleet_)) {
            for (auto& candidate : services_) {
                if (candidate && candidate->name() == s->name) {
                    ordered.push_back(std::move(candidate));
                }
            }
        }
        services_ = std::move(ordered);
        rebuild_dependents();
        if (!shutting_down_) {
            launch(*by_name_.at(name));
        }
    }
    for (auto& svc : services_) {
        svc->trim();
    }
    if (shutting_down_) {
        continue_shutdown();
    }
}

void fleet_runner::release_image(service_runtime& svc) {
    svc.image_hold = image_lease();
    if (svc.root_template_fd >= 0) {
        templates_.release(svc.image_lower());
        svc.root_template_fd = -1;
    }
    if (svc.image_key.empty()) {
        return;
    }
    if (auto st = layers_->release_image(svc.image_key); !st) {
        logger()->warn("{}", st.error().message());
    }
    svc.image_key.clear();
}

} // namespace berth
