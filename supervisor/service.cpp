// Driving a service's replicas through the lifecycle.
#include "supervisor/service.hpp"

#include "engine/log.hpp"
#include "engine/shim_spec.hpp"
#include "supervisor/image_cli.hpp"
#include "supervisor/replica_metrics.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace berth {
namespace {

constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::shared_ptr<spdlog::logger> logger() {
    return log::get("supervisor");
}

std::optional<std::uint64_t> limit_bytes(const std::optional<config::limit_value>& v) {
    if (!v) {
        return std::nullopt;
    }
    return v->is_max() ? cgroup::unlimited : v->amount();
}

std::vector<std::string> namespaces_of(const config::namespace_set& ns) {
    std::vector<std::string> out;
    if (ns.mount) {
        out.emplace_back("mount");
    }
    if (ns.uts) {
        out.emplace_back("uts");
    }
    if (ns.ipc) {
        out.emplace_back("ipc");
    }
    if (ns.cgroup) {
        out.emplace_back("cgroup");
    }
    if (ns.net) {
        out.emplace_back("net");
    }
    return out;
}

// What this build cannot do yet; such a service fails at start with this reason instead of
// running without what it asked for.
std::optional<std::string> unsupported(const config::service& s) {
    if (s.image && s.upper == config::upper_kind::disk) {
        return "upper = \"disk\" is not supported yet (only \"tmpfs\")";
    }
    if (s.readiness.type == config::readiness::kind::notify && s.namespaces.net) {
        return "readiness = \"notify\" needs the host's network namespace (its socket is "
               "abstract); remove \"net\" from namespaces";
    }
    return std::nullopt;
}

} // namespace

lifecycle::policy policy_of(const config::service& s) {
    lifecycle::policy p;
    switch (s.restart) {
    case config::restart_policy::always:
        p.restart = lifecycle::restart_policy::always;
        break;
    case config::restart_policy::on_failure:
        p.restart = lifecycle::restart_policy::on_failure;
        break;
    case config::restart_policy::never:
        p.restart = lifecycle::restart_policy::never;
        break;
    }
    p.restart_delay = s.restart_delay;
    p.restart_delay_max = s.restart_delay_max;
    p.start_limit_burst = s.start_limit_burst == 0 ? ~0u : s.start_limit_burst;
    p.start_limit_interval = s.start_limit_interval;
    p.stop_timeout = s.stop_timeout;
    p.stop_signal = s.stop_signal;
    p.needs_readiness = s.readiness.type != config::readiness::kind::none;
    if (p.needs_readiness) {
        p.start_timeout = s.start_timeout;
    }
    p.watchdog_timeout = s.watchdog_timeout;
    return p;
}

cgroup::limits limits_of(const config::limits& l) {
    cgroup::limits out;
    out.memory_max = limit_bytes(l.memory_max);
    out.memory_high = limit_bytes(l.memory_high);
    out.memory_swap_max = limit_bytes(l.memory_swap_max);
    out.pids_max = limit_bytes(l.pids_max);
    if (l.cpu_max) {
        cgroup::cpu_quota q;
        q.period_us = config::cpu_period_us;
        if (!l.cpu_max->is_max()) {
            q.quota_us = l.cpu_max->amount();
        }
        out.cpu_max = q;
    }
    out.cpu_weight = l.cpu_weight;
    out.io_weight = l.io_weight;
    out.cpuset_cpus = l.cpuset_cpus;
    return out;
}

replica_runtime::replica_runtime(service_runtime& svc, std::uint32_t index)
    : owner(svc), expanded(config::expand_replica(svc.spec(), index)), timer(svc.io()) {}

service_runtime::service_runtime(runtime_context& ctx, config::service spec,
                                 std::string image_lower, change_handler on_change)
    : ctx_(ctx), spec_(std::move(spec)), image_lower_(std::move(image_lower)),
      policy_(policy_of(spec_)), on_change_(std::move(on_change)) {
    for (std::uint32_t i = 0; i < spec_.replicas; ++i) {
        replicas_.push_back(std::make_unique<replica_runtime>(*this, i));
    }
}

status service_runtime::prepare() noexcept {
    try {
        if (!prepare_error_.empty()) {
            return error(0, prepare_error_);
        }
        if (auto why = unsupported(spec_)) {
            prepare_error_ = *why;
            return error(ENOTSUP, *why);
        }
        auto path = ctx_.cgroups.create_service(spec_.name);
        if (!path) {
            prepare_error_ = path.error().message();
            return path.error();
        }
        cgroup_path_ = *path;
        if (!spec_.service_limits.empty()) {
            if (auto st = cgroup::apply_limits(cgroup_path_, limits_of(spec_.service_limits));
                !st) {
                prepare_error_ = st.error().message();
                return st;
            }
        }
        std::error_code ec;
        std::filesystem::create_directories(ctx_.state_dir / "logs" / spec_.name, ec);
        if (ec) {
            prepare_error_ = "create log directory: " + ec.message();
            return error(ec.value(), prepare_error_);
        }
        return {};
    } catch (const std::exception& e) {
        prepare_error_ = e.what();
        return error(ENOMEM, prepare_error_);
    }
}

void service_runtime::start_all() noexcept {
    for (auto& r : replicas_) {
        dispatch(*r, {lifecycle::event_kind::up});
    }
}

void service_runtime::stop_all() noexcept {
    for (auto& r : replicas_) {
        dispatch(*r, {lifecycle::event_kind::down});
    }
}

void service_runtime::send(std::optional<std::uint32_t> replica,
                           lifecycle::event_kind kind) noexcept {
    for (auto& r : replicas_) {
        if (!replica || r->expanded.index == *replica) {
            dispatch(*r, {kind});
        }
    }
}

void service_runtime::on_notify(replica_runtime& r, std::string_view message) noexcept {
    if (spec_.readiness.type != config::readiness::kind::notify) {
        logger()->debug("service {}: ignoring sd_notify (readiness is not notify)", r.expanded.id);
        return;
    }
    auto m = parse_notify(message);
    if (m.status) {
        r.notify_status = *m.status;
        logger()->debug("service {}: status: {}", r.expanded.id, *m.status);
    }
    if (m.ready) {
        dispatch(r, {lifecycle::event_kind::ready_ok});
    }
    if (m.watchdog) {
        dispatch(r, {lifecycle::event_kind::watchdog});
    }
    if (m.stopping) {
        logger()->info("service {}: says it is stopping", r.expanded.id);
    }
}

void service_runtime::kill_all() noexcept {
    if (cgroup_path_.empty()) {
        return;
    }
    if (auto st = cgroup::kill_all(cgroup_path_); !st) {
        logger()->error("service {}: {}", spec_.name, st.error().message());
    }
    for (auto& r : replicas_) {
        r->leaf_killed = !r->cgroup_path.empty();
    }
}

void service_runtime::set_dependencies_ok(bool ok, const std::string& reason) noexcept {
    for (auto& r : replicas_) {
        if (r->status.deps_ok != ok) {
            lifecycle::event ev{ok ? lifecycle::event_kind::deps_up
                                   : lifecycle::event_kind::deps_down};
            ev.reason = reason;
            dispatch(*r, std::move(ev));
        }
    }
}

bool service_runtime::up() const noexcept {
    return std::all_of(replicas_.begin(), replicas_.end(),
                       [](const auto& r) { return r->status.current == lifecycle::state::ready; });
}

bool service_runtime::failed() const noexcept {
    return std::any_of(replicas_.begin(), replicas_.end(),
                       [](const auto& r) { return r->status.current == lifecycle::state::failed; });
}

bool service_runtime::stopped() const noexcept {
    return std::all_of(replicas_.begin(), replicas_.end(), [](const auto& r) {
        auto s = r->status.current;
        bool idle = s == lifecycle::state::exited || s == lifecycle::state::failed ||
                    s == lifecycle::state::waiting;
        return idle && !(r->proc && r->proc->alive());
    });
}

void service_runtime::remove_cgroups() noexcept {
    for (auto& r : replicas_) {
        if (!r->cgroup_path.empty()) {
            if (auto st = cgroup::remove_leaf(r->cgroup_path); !st) {
                logger()->warn("service {}: {}", r->expanded.id, st.error().message());
            }
        }
        replica_metrics::removed(ctx_.metrics, *r);
        drop_anonymous_volumes(*r);
    }
    if (!cgroup_path_.empty()) {
        if (auto st = cgroup::remove(cgroup_path_); !st) {
            logger()->warn("service {}: {}", spec_.name, st.error().message());
        }
    }
}

void service_runtime::scale(std::uint32_t replicas) noexcept {
    try {
        bool deps_ok = replicas_.empty() || replicas_.front()->status.deps_ok;
        spec_.replicas = replicas;
        for (auto i = static_cast<std::uint32_t>(replicas_.size()); i < replicas; ++i) {
            replicas_.push_back(std::make_unique<replica_runtime>(*this, i));
            replicas_.back()->status.deps_ok = deps_ok;
            dispatch(*replicas_.back(), {lifecycle::event_kind::up});
        }
        for (auto i = replicas; i < replicas_.size(); ++i) {
            dispatch(*replicas_[i], {lifecycle::event_kind::down});
        }
    } catch (const std::exception& e) {
        logger()->error("service {}: scale to {}: {}", spec_.name, replicas, e.what());
    }
}

void service_runtime::drop_anonymous_volumes(replica_runtime& r) noexcept {
    r.volume_leases.clear();
    if (ctx_.volumes == nullptr || spec_.volumes.empty()) {
        return;
    }
    try {
        if (auto st = ctx_.volumes->remove_anonymous(r.expanded.id); !st) {
            logger()->warn("service {}: {}", r.expanded.id, st.error().message());
        }
    } catch (const std::exception& e) {
        logger()->warn("service {}: anonymous volumes: {}", r.expanded.id, e.what());
    }
}

void service_runtime::trim() noexcept {
    while (replicas_.size() > spec_.replicas) {
        auto& last = *replicas_.back();
        auto s = last.status.current;
        bool idle = (s == lifecycle::state::exited || s == lifecycle::state::failed) &&
                    !(last.proc && last.proc->alive()) && !last.dispatching;
        if (!idle) {
            return;
        }
        if (!last.cgroup_path.empty()) {
            if (auto st = cgroup::remove_leaf(last.cgroup_path); !st) {
                logger()->warn("service {}: {}", last.expanded.id, st.error().message());
            }
        }
        replica_metrics::removed(ctx_.metrics, last);
        drop_anonymous_volumes(last);
        replicas_.pop_back();
    }
}

void service_runtime::dispatch(replica_runtime& r, lifecycle::event ev) noexcept {
    try {
        r.pending.push_back(std::move(ev));
        if (r.dispatching) {
            return; // the running dispatch picks it up: one transition at a time
        }
        r.dispatching = true;
        while (!r.pending.empty()) {
            auto next = std::move(r.pending.front());
            r.pending.pop_front();
            auto before = r.status.current;
            auto restarts_before = r.status.restarts;
            auto now = lifecycle::clock::now();
            auto actions = lifecycle::step(policy_, r.status, next, now, ctx_.rng);
            replica_metrics::stepped(ctx_.metrics, r, before, restarts_before, now);
            for (const auto& a : actions) {
                if (a.kind == lifecycle::action_kind::spawn) {
                    r.spawn_action_at = lifecycle::clock::now();
                }
                perform(r, a);
            }
            update_probe(r);
            if (r.status.current != before) {
                report(r, before);
                on_change_(*this);
            }
        }
        r.dispatching = false;
    } catch (const std::exception& e) {
        r.dispatching = false;
        logger()->error("service {}: event handling: {}", r.expanded.id, e.what());
    }
}

void service_runtime::perform(replica_runtime& r, const lifecycle::action& a) noexcept {
    switch (a.kind) {
    case lifecycle::action_kind::spawn:
        spawn(r);
        break;
    case lifecycle::action_kind::signal:
        if (r.proc && r.proc->alive()) {
            if (auto st = r.proc->signal(a.signal); !st) {
                logger()->warn("service {}: {}", r.expanded.id, st.error().message());
            }
        }
        break;
    case lifecycle::action_kind::kill_all:
        if (auto st = cgroup::kill_all(r.cgroup_path); !st) {
            logger()->error("service {}: {}", r.expanded.id, st.error().message());
        }
        r.leaf_killed = true;
        break;
    case lifecycle::action_kind::arm_timer:
        arm_timer(r, a.delay);
        break;
    case lifecycle::action_kind::cancel_timer:
        ++r.timer_generation;
        r.timer.cancel();
        break;
    }
}

void service_runtime::spawn(replica_runtime& r) noexcept {
    status st = [&]() -> status {
        try {
            return spawn_checked(r);
        } catch (const std::exception& e) {
            return error(ENOMEM, e.what());
        }
    }();
    if (!st) {
        auto text = st.error().message();
        logger()->error("service {}: {}", r.expanded.id, text);
        lifecycle::event ev{lifecycle::event_kind::spawn_failed};
        ev.reason = text;
        dispatch(r, std::move(ev));
    }
}

// What the workload and its exec probe share: who runs it, where, for messages.
shim_spec service_runtime::credentials_spec(const replica_runtime& r) const {
    shim_spec shim;
    shim.name = r.expanded.id;
    shim.cwd = spec_.working_dir.string();
    if (spec_.user.uid != 0 || spec_.user.gid != 0) {
        shim.uid = spec_.user.uid;
        shim.gid = spec_.user.gid;
    }
    return shim;
}

std::vector<std::string> service_runtime::workload_env(const replica_runtime& r) const {
    std::vector<std::string> env;
    bool has_path = false;
    for (const auto& [key, value] : r.expanded.env) {
        has_path = has_path || key == "PATH";
        env.push_back(key + "=" + value);
    }
    if (!has_path) {
        env.push_back(std::string("PATH=") + default_path);
    }
    return env;
}

// readiness = exec: probing runs exactly while the replica is running (exec'd, not yet ready).
void service_runtime::update_probe(replica_runtime& r) noexcept {
    if (spec_.readiness.type != config::readiness::kind::exec) {
        return;
    }
    bool wanted = r.status.current == lifecycle::state::running && r.proc && r.proc->alive();
    if (!wanted) {
        if (r.probe) {
            r.probe->stop();
        }
        return;
    }
    if (r.probe && r.probe->active()) {
        return;
    }
    try {
        shim_spec shim = credentials_spec(r);
        shim.join = r.proc->pid(); // not reaped yet (we hold its pidfd): the pid is still its
        shim.command = spec_.readiness.exec;
        exec_probe::settings s;
        s.name = r.expanded.id;
        s.shim_path = ctx_.shim_path;
        s.argv = shim_argv(shim);
        s.env = workload_env(r);
        s.cgroup_path = r.cgroup_path;
        s.interval = spec_.readiness.interval;
        s.timeout = spec_.readiness.timeout;
        s.retries = spec_.readiness.retries;
        if (!r.probe) {
            r.probe = std::make_unique<exec_probe>(ctx_.io, ctx_.spawn, ctx_.reap);
        }
        r.probe->start(std::move(s), [this, &r](bool passed, const std::string& why) {
            lifecycle::event ev{passed ? lifecycle::event_kind::ready_ok
                                       : lifecycle::event_kind::ready_failed};
            ev.reason = why;
            dispatch(r, std::move(ev));
        });
    } catch (const std::exception& e) {
        logger()->error("service {}: readiness probe: {}", r.expanded.id, e.what());
        lifecycle::event ev{lifecycle::event_kind::ready_failed};
        ev.reason = std::string("readiness probe: ") + e.what();
        dispatch(r, std::move(ev));
    }
}

status service_runtime::spawn_checked(replica_runtime& r) {
    if (!prepare_error_.empty()) {
        return error(0, prepare_error_);
    }
    if (r.leaf_killed && !r.cgroup_path.empty()) {
        // Linux 6.18 kills at birth every clone3(CLONE_INTO_CGROUP) into a cgroup that
        // cgroup.kill has been used on (docs/cgroups.md), so the next run gets a fresh leaf;
        // what cgroup.kill has not finished off yet is waited for (populated 0).
        if (auto st = cgroup::remove_leaf(r.cgroup_path); !st) {
            return st.error().within("replace the killed leaf");
        }
        replica_metrics::removed(ctx_.metrics, r);
        r.cgroup_path.clear();
        r.limits_applied = false;
    }
    r.leaf_killed = false;
    if (r.cgroup_path.empty()) {
        auto path = ctx_.cgroups.create_replica(spec_.name, std::to_string(r.expanded.index));
        if (!path) {
            return path.error();
        }
        r.cgroup_path = *path;
        replica_metrics::leaf_added(ctx_.metrics, r);
    }
    if (!r.limits_applied && !spec_.limits.empty()) {
        if (auto st = cgroup::apply_limits(r.cgroup_path, limits_of(spec_.limits)); !st) {
            return st;
        }
    }
    r.limits_applied = true;
    auto leaf = cgroup::open_dir(r.cgroup_path);
    if (!leaf) {
        return leaf.error();
    }
    r.oom_kills_before = 0;
    if (ctx_.memory_controller) {
        if (auto ev = cgroup::read_memory_events(r.cgroup_path); ev && ev->has_value()) {
            r.oom_kills_before = (*ev)->oom_kill;
        }
    }

    shim_spec shim = credentials_spec(r);
    // start_priority = "realtime" (engine/spawn.hpp): starts only, not exec probe runs.
    shim.sched_other = ctx_.spawn.hands_off_priority();
    shim.namespaces = namespaces_of(spec_.namespaces);
    if (spec_.image) {
        shim.lower = image_lower_;
        shim.scratch = ctx_.scratch_dir.string();
        shim.dev = ctx_.dev_template;
        if (spec_.root_switch == config::root_switch::move) {
            shim.root_switch = shim_root_switch::move;
        } else if (spec_.root_switch == config::root_switch::on_template && root_template_fd >= 0) {
            shim.root_switch = shim_root_switch::on_template;
        }
    }
    shim.hostname = r.expanded.hostname.value_or("");
    shim.init = spec_.init;
    shim.command = spec_.command;
    if (!spec_.volumes.empty()) {
        if (ctx_.volumes == nullptr) {
            return error(ENOTSUP, "volumes: no volume store");
        }
        auto prepared = ctx_.volumes->prepare(r.expanded.id, volume_requests(r.expanded.volumes),
                                              spec_.user.uid, spec_.user.gid);
        if (!prepared) {
            return prepared.error();
        }
        shim.volumes = std::move(prepared->binds);
        r.volume_leases = std::move(prepared->leases);
    }

    container_launch launch;
    launch.name = r.expanded.id;
    launch.shim_path = ctx_.shim_path;
    launch.argv = shim_argv(shim);
    launch.env = workload_env(r);
    if (spec_.readiness.type == config::readiness::kind::notify) {
        if (!r.notify) {
            auto name = "berth-" + std::to_string(::getpid()) + "-" + spec_.name + "-" +
                        std::to_string(r.expanded.index);
            auto listener = notify_listener::open(
                ctx_.io, name, [this, &r](pid_t, std::string_view m) { on_notify(r, m); });
            if (!listener) {
                return listener.error();
            }
            r.notify = std::move(*listener);
        }
        launch.env.push_back("NOTIFY_SOCKET=" + r.notify->address());
    }
    launch.cgroup_fd = leaf->get();
    if (shim.root_switch == shim_root_switch::on_template) {
        launch.root_ns_fd = root_template_fd;
    }
    launch.new_pid_namespace = spec_.namespaces.pid;
    launch.log_path =
        ctx_.state_dir / "logs" / spec_.name / (std::to_string(r.expanded.index) + ".log");
    launch.log_max_size = spec_.log_max_size;
    launch.log_max_files = spec_.log_max_files;
    launch.hand_off_priority = shim.sched_other;

    if (!r.proc) {
        r.proc = std::make_unique<container>(ctx_.io, ctx_.spawn, ctx_.reap);
    }
    container::callbacks cbs;
    cbs.on_running = [this, &r] { dispatch(r, {lifecycle::event_kind::exec_ok}); };
    cbs.on_exit = [this, &r](const container_exit& exit) { on_exit(r, exit); };
    return r.proc->start(launch, std::move(cbs));
}

void service_runtime::on_exit(replica_runtime& r, const container_exit& exit) noexcept {
    container_exit seen = exit;
    if (ctx_.memory_controller && !r.cgroup_path.empty()) {
        if (auto ev = cgroup::read_memory_events(r.cgroup_path); ev && ev->has_value()) {
            seen.oom_killed = (*ev)->oom_kill > r.oom_kills_before;
        }
    }
    r.last_exit_oom = seen.oom_killed;
    replica_metrics::exited(ctx_.metrics, r, seen);
    lifecycle::event ev{lifecycle::event_kind::exited};
    ev.exit.clean = !seen.setup_failure && !seen.process.signaled && seen.process.code == 0;
    ev.exit.description = seen.describe();
    dispatch(r, std::move(ev));
}

void service_runtime::arm_timer(replica_runtime& r, lifecycle::duration delay) noexcept {
    std::uint64_t generation = ++r.timer_generation;
    r.timer.expires_after(delay);
    r.timer.async_wait([this, &r, generation,
                        alive = std::weak_ptr<char>(r.alive)](const boost::system::error_code& ec) {
        // An expiry already queued when the replica went away runs with success.
        if (ec || alive.expired() || generation != r.timer_generation) {
            return;
        }
        dispatch(r, {lifecycle::event_kind::timer});
    });
}

void service_runtime::report(const replica_runtime& r, lifecycle::state before) const noexcept {
    using lifecycle::state;
    const auto& st = r.status;
    auto now = lifecycle::to_string(st.current);
    switch (st.current) {
    case state::starting:
        logger()->debug("service {}: starting pid={}", r.expanded.id, r.proc ? r.proc->pid() : -1);
        break;
    case state::ready:
    case state::running:
        logger()->info("service {}: {} pid={}", r.expanded.id, now, r.proc ? r.proc->pid() : -1);
        break;
    case state::backoff:
        logger()->info("service {}: {}; restarting (restart {})", r.expanded.id, st.last_exit,
                       st.restarts);
        break;
    case state::failed:
        logger()->error("service {}: failed: {}", r.expanded.id, st.failure);
        break;
    case state::exited:
        logger()->info("service {}: {}", r.expanded.id,
                       st.last_exit.empty() ? std::string(now) : st.last_exit);
        break;
    case state::waiting:
        if (before != state::exited && before != state::failed && before != state::waiting) {
            // It ran and was stopped or held back because a requirement went away.
            logger()->info("service {}: {}; waiting for its dependencies", r.expanded.id,
                           st.last_exit.empty() ? std::string("stopped") : st.last_exit);
            break;
        }
        logger()->debug("service {}: {} -> {}", r.expanded.id, lifecycle::to_string(before), now);
        break;
    case state::stopping:
        logger()->debug("service {}: {} -> {}", r.expanded.id, lifecycle::to_string(before), now);
        break;
    }
}

} // namespace berth
