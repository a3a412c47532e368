// The running fleet: start-up, dependencies, signals, ordered shutdown, teardown.
#include "supervisor/fleet_runner.hpp"

#include "config/loader.hpp"
#include "config/suggest.hpp"
#include "config/values.hpp"
#include "engine/cgroup.hpp"
#include "engine/layer_store.hpp"
#include "engine/log.hpp"
#include "engine/signals.hpp"
#include "supervisor/cli.hpp"
#include "supervisor/control_api.hpp"
#include "supervisor/image_cli.hpp"
#include "supervisor/image_user.hpp"
#include "supervisor/pid1.hpp"
#include "supervisor/reload.hpp"
#include "supervisor/service.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <iostream>
#include <map>
#include <numeric>
#include <set>

namespace berth {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<spdlog::logger> logger() {
    return log::get("supervisor");
}

// berth-shim next to the running binary, else the installed location.
std::string default_shim_path() {
    std::error_code ec;
    auto self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        auto beside = self.parent_path() / "berth-shim";
        if (fs::exists(beside, ec)) {
            return beside.string();
        }
    }
    return "/usr/libexec/berth/berth-shim";
}

// Thousands of containers hold thousands of pidfds and pipes.
void raise_fd_limit() {
    rlimit want{1 << 20, 1 << 20};
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) {
        return;
    }
    rlimit cur{};
    if (::getrlimit(RLIMIT_NOFILE, &cur) == 0) {
        cur.rlim_cur = cur.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &cur);
    }
}

} // namespace

status fleet_runner::lock_state_dir() {
    const auto& dir = fleet_.supervisor.state_dir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        return error(ec.value(), "state dir '" + dir.string() + "': create");
    }
    auto path = dir / "berth.lock";
    lock_fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock_fd_) {
        return error::from_errno("lock '" + path.string() + "': open");
    }
    if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        return error(errno,
                     "lock '" + path.string() + "': another berth is running with this state_dir");
    }
    return {};
}

status fleet_runner::setup_cgroups() {
    std::string root;
    if (fleet_.supervisor.cgroup_root) {
        root = fleet_.supervisor.cgroup_root->string();
    } else {
        auto r = cgroup::default_root(options_.pid1);
        if (!r) {
            return r.error();
        }
        root = *r;
    }
    auto self = cgroup::path_of_process();
    if (self) {
        original_cgroup_ = *self;
    }
    auto tree = cgroup::tree::open(root);
    if (!tree) {
        return tree.error();
    }
    tree_.emplace(std::move(*tree));
    // Leftovers of an earlier run: every service subtree, processes included.
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(tree_->root(), ec)) {
        if (entry.is_directory() && entry.path().filename() != "init") {
            logger()->warn("cgroup '{}': left by an earlier run; removing", entry.path().string());
            if (auto st = cgroup::remove_tree(entry.path().string()); !st) {
                return st;
            }
        }
    }
    auto init = tree_->create_init();
    if (!init) {
        return init.error();
    }
    if (auto st = cgroup::move_self_into(*init); !st) {
        return st;
    }
    auto enabled = tree_->enable_root_controllers();
    if (!enabled) {
        return enabled.error();
    }
    logger()->info("cgroup root '{}' controllers=[{}]", tree_->root(), fmt::join(*enabled, " "));
    // Only now, in its own cgroup with the controllers enabled: with RT group scheduling the
    // kernel refuses SCHED_FIFO in a cgroup without real-time runtime (so the hand-off stays
    // off), and refuses to enable the cpu controller over a real-time task.
    if (fleet_.supervisor.start_priority == config::start_priority::realtime &&
        !spawn_.enable_priority_hand_off([this] { drop_priority_when_idle(); })) {
        logger()->warn("start_priority = \"realtime\": SCHED_FIFO is not permitted here (it "
                       "needs CAP_SYS_NICE, a cgroup with real-time runtime, and berth not "
                       "already real-time); containers start at normal priority");
    }
    return {};
}

// The hand-off's priority lasts while starts keep coming, and a little past the last one:
// the loop then reads the burst's exec reports (a start is "ready" there) without waiting
// behind the shims it just made. Off again within this window of the last start.
void fleet_runner::drop_priority_when_idle() {
    constexpr auto linger = std::chrono::milliseconds(100);
    priority_timer_.expires_at(spawn_.last_hand_off() + linger);
    priority_timer_.async_wait([this, linger](const boost::system::error_code& ec) {
        if (ec || !spawn_.priority_raised()) {
            return;
        }
        if (std::chrono::steady_clock::now() < spawn_.last_hand_off() + linger) {
            try {
                drop_priority_when_idle(); // a start came since: wait for the new deadline
                return;
            } catch (const std::exception&) {
                // no memory for the timer: drop it now rather than stay real-time
            }
        }
        spawn_.drop_priority();
    });
}

status fleet_runner::setup_services() {
    const auto& settings = fleet_.supervisor;
    if (auto st = layer_store::cleanup_leftovers(settings.state_dir.string()); !st) {
        logger()->warn("{}", st.error().message());
    }
    layers_.emplace(settings.state_dir.string());
    images_.emplace(settings.storage_dir.string());
    volumes_.emplace(
        volume_store::settings{(settings.storage_dir / "volumes").string(),
                               (settings.state_dir / "volumes").string(),
                               {settings.storage_dir.string(), settings.state_dir.string()}});
    ctx_ = std::make_unique<runtime_context>(
        runtime_context{io_, spawn_, reaper_, *tree_,
                        options_.shim_path.empty() ? default_shim_path() : options_.shim_path,
                        settings.state_dir, settings.state_dir / "scratch"});
    std::error_code ec;
    fs::create_directories(ctx_->scratch_dir, ec);
    if (ec) {
        return error(ec.value(), "scratch dir '" + ctx_->scratch_dir.string() + "': create");
    }
    if (auto dev = layers_->dev_template()) {
        ctx_->dev_template = *dev;
    } else {
        logger()->warn("{}; every container builds its own /dev", dev.error().message());
    }
    const auto& avail = tree_->available();
    ctx_->memory_controller = std::find(avail.begin(), avail.end(), "memory") != avail.end();
    ctx_->volumes = &*volumes_;

    for (const config::service* s : config::start_order(fleet_)) {
        auto svc = make_service(*s);
        by_name_[s->name] = svc.get();
        services_.push_back(std::move(svc));
    }
    rebuild_dependents();
    return {};
}

// The layer store's name for an image's mount: the image name plus a digest of its layers, so
// that a reload that changes an image's layers mounts the new stack beside the old one.
std::string image_key(const config::image& img) {
    std::size_t h = 0;
    for (const auto& l : img.layers) {
        h = h * 1000003u ^ std::hash<std::string>{}(l.string());
    }
    return img.name + "-" + fmt::format("{:08x}", static_cast<std::uint32_t>(h));
}

// A service on an imported image takes what it leaves unsaid from the image config:
// the command (Entrypoint + Cmd), the environment (the service's keys win) and the working
// directory (when the service says "/", the default). The User comes later, once the image
// is mounted (its names are looked up in the image's /etc/passwd). Returns why the image
// cannot be used as the service asks, or nothing.
std::optional<std::string> apply_image_defaults(config::service& s, const image_config& image) {
    s.command = command_for(s.command, image);
    if (s.command.empty()) {
        return "the image has no Entrypoint or Cmd; set command";
    }
    if (s.command[0].empty() || s.command[0][0] != '/') {
        return "the image's command '" + s.command[0] +
               "' is not an absolute path (berth does no PATH lookup); set command";
    }
    s.env = environment_for(s.env, image);
    if (s.working_dir == "/" && !image.working_dir.empty()) {
        s.working_dir = image.working_dir;
    }
    return std::nullopt;
}

std::unique_ptr<service_runtime> fleet_runner::make_service(const config::service& s) {
    config::service effective = s;
    std::vector<std::string> layers;
    std::string key;
    std::string failure;
    image_lease hold;
    if (s.image) {
        const config::image* img = fleet_.find_image(*s.image);
        if (img->ref) {
            auto lease = images_->acquire(*img->ref);
            if (!lease) {
                failure = "image '" + img->name + "': " + lease.error().message();
            } else if (auto why = apply_image_defaults(effective, lease->image().config)) {
                failure = "image '" + img->name + "' (ref '" + *img->ref + "'): " + *why;
            } else {
                layers = lease->image().layers;
                // The config digest names the content: a re-import under the same ref mounts
                // beside the old stack instead of over it.
                auto digest = lease->image().config_digest;
                key = img->name + "-" + digest.substr(digest.size() > 12 ? digest.size() - 12 : 0);
                hold = std::move(*lease);
            }
        } else {
            for (const auto& l : img->layers) {
                layers.push_back(l.string());
            }
            key = image_key(*img);
        }
    }
    std::string lower;
    if (failure.empty() && !key.empty()) {
        if (auto mounted = layers_->mount_image(key, layers); !mounted) {
            failure = mounted.error().message();
            key.clear();
        } else {
            lower = *mounted;
        }
    }
    // The image's User, when the service says 0:0 (the default), as for the other defaults.
    if (failure.empty() && hold.held() && effective.user == config::credentials{} &&
        !hold.image().config.user.empty()) {
        if (auto user = resolve_image_user(hold.image().config.user, lower); !user) {
            failure = "image '" + *s.image + "': " + user.error().message() + "; set user";
            if (auto st = layers_->release_image(key); !st) {
                logger()->warn("service {}: {}", s.name, st.error().message());
            }
            key.clear();
        } else {
            effective.user = *user;
        }
    }
    // Built once per image, here rather than at the first start. Without one the replicas
    // pivot_root: slower with many containers, but as isolated.
    int root_template = -1;
    if (failure.empty() && !key.empty() &&
        effective.root_switch == config::root_switch::on_template) {
        auto made = templates_.acquire({lower, ctx_->dev_template, ctx_->scratch_dir.string()});
        if (!made) {
            logger()->warn("service {}: {}; its replicas pivot_root instead", s.name,
                           made.error().message());
        } else {
            root_template = *made;
        }
    }
    auto svc = std::make_unique<service_runtime>(
        *ctx_, effective, lower, [this](service_runtime& changed) { on_change(changed); });
    svc->image_key = failure.empty() ? key : "";
    svc->root_template_fd = root_template;
    svc->image_hold = std::move(hold);
    if (!failure.empty()) {
        logger()->error("service {}: {}", s.name, failure);
        svc->set_unavailable(failure);
    }
    return svc;
}

void fleet_runner::rebuild_dependents() {
    dependents_.clear();
    for (const auto& svc : services_) {
        std::set<std::string> deps(svc->spec().after.begin(), svc->spec().after.end());
        deps.insert(svc->spec().required.begin(), svc->spec().required.end());
        for (const auto& d : deps) {
            dependents_[d].push_back(svc.get());
        }
    }
}

bool fleet_runner::dependencies_up(const service_runtime& svc) const {
    for (const auto& list : {svc.spec().after, svc.spec().required}) {
        for (const auto& d : list) {
            auto it = by_name_.find(d);
            if (it == by_name_.end() || !it->second->up()) {
                return false; // absent: being replaced by a reload
            }
        }
    }
    return true;
}

void fleet_runner::launch(service_runtime& svc) {
    if (auto st = svc.prepare(); !st) {
        logger()->error("service {}: {}", svc.name(), st.error().message());
    }
    bool up = dependencies_up(svc);
    for (const auto& r : svc.replicas()) {
        r->status.deps_ok = up;
    }
    svc.start_all();
}

status fleet_runner::setup() {
    if (auto st = lock_state_dir(); !st) {
        return st;
    }
    raise_fd_limit();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    ::signal(SIGPIPE, SIG_IGN);
    auto sigs = signal_stream::create(io_, {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGPWR});
    if (!sigs) {
        return sigs.error();
    }
    signals_.emplace(std::move(*sigs));
    if (auto st = setup_cgroups(); !st) {
        return st;
    }
    if (auto st = setup_services(); !st) {
        return st;
    }
    open_control_socket();
    open_metrics();
    return {};
}

// The control API for berthctl. Without it the fleet still runs: an operator can still stop
// it with a signal, so a failure here is logged, not fatal.
void fleet_runner::open_control_socket() {
    const auto& path = fleet_.supervisor.control_socket;
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    auto srv = http::server::listen_unix(io_, path.string(), 0600, make_control_handler(*this));
    if (!srv) {
        logger()->error("control socket: {}; berthctl will not reach this berth",
                        srv.error().message());
        return;
    }
    control_ = std::move(*srv);
    logger()->info("control socket '{}'", path.string());
}

// The Prometheus endpoint on metrics_listen (docs/metrics.md). Without it the fleet still runs:
// a failure here (the address in use, an address this machine lacks) is logged, never fatal,
// and leaves berth without metrics, since nobody could read them.
void fleet_runner::open_metrics() {
    const auto& listen = fleet_.supervisor.metrics_listen;
    if (!listen) {
        return;
    }
    try {
        metrics::registry::options opts;
        using lifecycle::state;
        for (auto s : {state::waiting, state::starting, state::running, state::ready,
                       state::stopping, state::backoff, state::exited, state::failed}) {
            opts.replica_states.emplace_back(lifecycle::to_string(s));
        }
        opts.running_states = {"running", "ready", "stopping"};
        metrics_ = std::make_unique<metrics::registry>(std::move(opts));
        collector_ = std::make_unique<metrics::collector>(io_, *metrics_);
        endpoint_ = std::make_unique<metrics::endpoint>(*metrics_, collector_.get());
        auto srv = http::server::listen_tcp(io_, listen->host, listen->port, endpoint_->handler());
        if (!srv) {
            logger()->error("metrics endpoint: {}; berth runs the fleet without /metrics",
                            srv.error().message());
            close_metrics();
            return;
        }
        metrics_server_ = std::move(*srv);
        if (auto clock = exit_clock::open(io_); clock) {
            exit_clock_ = std::move(*clock);
            reaper_.use_exit_clock(exit_clock_.get());
        } else {
            logger()->info("exit-to-reaped latency not measured: {}", clock.error().message());
        }
        logger()->info("metrics endpoint http://{}/metrics",
                       config::format_listen_address(
                           config::listen_address{listen->host, metrics_server_->local_port()}));
    } catch (const std::exception& e) {
        logger()->error("metrics endpoint {}:{}: set up: {}; berth runs the fleet without /metrics",
                        listen->host, listen->port, e.what());
        close_metrics();
        return;
    }
    ctx_->metrics = metrics_.get();
    for (const auto& svc : services_) {
        report_service(*svc);
    }
    collector_->start();
}

// Before the registry goes: nothing reports into it, nothing reads it, nobody scrapes it.
void fleet_runner::close_metrics() noexcept {
    if (ctx_) {
        ctx_->metrics = nullptr;
    }
    if (collector_) {
        collector_->stop();
    }
    reaper_.use_exit_clock(nullptr);
    exit_clock_.reset();
    if (metrics_server_) {
        metrics_server_->close();
    }
    metrics_server_.reset();
    endpoint_.reset();
    collector_.reset();
    metrics_.reset();
}

// A service's desired replica count, at set-up and whenever a reload sets it.
void fleet_runner::report_service(const service_runtime& svc) noexcept {
    if (metrics_) {
        metrics_->set_service(svc.name(), svc.spec().replicas);
    }
}

// io_context::run, but one completion at a time when there are metrics, so that they can count
// the loop's completions and the processes whose exit it waits for (one pidfd wait each).
void fleet_runner::run_loop() {
    if (!metrics_) {
        io_.run();
        return;
    }
    std::size_t waits = 0;
    metrics_->set_pending_operations(waits);
    while (std::size_t n = io_.run_one()) {
        metrics_->add_loop_completions(n);
        if (reaper_.watched() != waits) {
            waits = reaper_.watched();
            metrics_->set_pending_operations(waits);
        }
    }
}

void fleet_runner::start_fleet() {
    signals_->start([this](const signalfd_siginfo& info) { on_signal(info); });
    for (auto& svc : services_) {
        launch(*svc);
    }
    logger()->info(
        "fleet started: {} services, {} replicas", services_.size(),
        std::accumulate(services_.begin(), services_.end(), std::size_t{0},
                        [](std::size_t n, const auto& s) { return n + s->replicas().size(); }));
}

void fleet_runner::on_signal(const signalfd_siginfo& info) {
    switch (info.ssi_signo) {
    case SIGCHLD:
        reaper_.reap_children();
        break;
    case SIGINT:
    case SIGTERM:
    case SIGPWR:
        if (shutting_down_) {
            logger()->warn("second stop signal: killing every container now");
            force_stop();
        } else {
            logger()->info("{}: stopping the fleet",
                           sigabbrev_np(static_cast<int>(info.ssi_signo)));
            ending_ = info.ssi_signo == SIGINT ? pid1::ending::reboot : pid1::ending::power_off;
            begin_shutdown();
        }
        break;
    case SIGHUP:
        (void)reload(false);
        break;
    default:
        break;
    }
}

void fleet_runner::on_change(service_runtime& svc) {
    if (!retiring_.empty() || svc.replicas().size() > svc.spec().replicas) {
        schedule_reconcile();
    }
    if (shutting_down_) {
        continue_shutdown();
        return;
    }
    if (auto it = dependents_.find(svc.name()); it != dependents_.end()) {
        for (service_runtime* d : it->second) {
            evaluate_dependencies(*d);
        }
    }
}

void fleet_runner::evaluate_dependencies(service_runtime& svc) {
    for (const auto& d : svc.spec().required) {
        auto it = by_name_.find(d);
        if (it != by_name_.end() && it->second->failed()) {
            svc.set_dependencies_ok(false, "requirement " + d + " failed");
            return;
        }
    }
    if (dependencies_up(svc)) {
        svc.set_dependencies_ok(true, "");
    }
}

void fleet_runner::begin_shutdown() {
    shutting_down_ = true;
    shutdown_timer_.expires_after(fleet_.supervisor.shutdown_timeout);
    shutdown_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
            logger()->warn("shutdown_timeout reached: killing every container");
            force_stop();
        }
    });
    continue_shutdown();
}

// Stops services in reverse start order: a service is told to stop once every service that
// depends on it has stopped. Ends the loop when everything has.
void fleet_runner::continue_shutdown() {
    if (in_shutdown_step_) {
        shutdown_again_ = true;
        return;
    }
    in_shutdown_step_ = true;
    do {
        shutdown_again_ = false;
        for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
            service_runtime& svc = **it;
            if (stop_sent_.contains(svc.name())) {
                continue;
            }
            bool dependents_stopped = true;
            if (auto d = dependents_.find(svc.name()); d != dependents_.end()) {
                for (service_runtime* dep : d->second) {
                    dependents_stopped = dependents_stopped && dep->stopped();
                }
            }
            if (dependents_stopped || forced_) {
                stop_sent_.insert(svc.name());
                svc.stop_all();
            }
        }
    } while (shutdown_again_);
    in_shutdown_step_ = false;
    bool all_stopped =
        std::all_of(services_.begin(), services_.end(), [](const auto& s) { return s->stopped(); });
    if (all_stopped) {
        shutdown_timer_.cancel();
        io_.stop();
    }
}

void fleet_runner::force_stop() {
    forced_ = true;
    for (auto& svc : services_) {
        svc->kill_all();
    }
    continue_shutdown();
}

void fleet_runner::teardown() {
    if (control_) {
        control_->close();
        control_.reset();
    }
    close_metrics();
    for (auto* list : {&services_, &retiring_}) {
        for (auto& svc : *list) {
            svc->remove_cgroups();
            release_image(*svc);
        }
        list->clear();
    }
    if (tree_) {
        if (!original_cgroup_.empty()) {
            (void)cgroup::move_self_into(original_cgroup_);
        }
        if (auto st = cgroup::remove(tree_->init_path()); !st) {
            logger()->warn("{}", st.error().message());
        }
        (void)cgroup::remove(tree_->root()); // fails harmlessly where it is not ours alone
    }
    std::error_code ec;
    if (ctx_) {
        fs::remove(ctx_->scratch_dir, ec);
    }
}

int fleet_runner::run() {
    if (auto st = setup(); !st) {
        logger()->error("{}", st.error().message());
        teardown();
        return cli::exit_failure;
    }
    start_fleet();
    // With no service, the loop still runs: as PID 1 it reaps orphans and waits for the signal
    // that ends the machine; on a host, for the one that ends berth.
    run_loop();
    priority_timer_.cancel();
    spawn_.drop_priority(); // the loop stopped before the timer did
    teardown();
    logger()->info("fleet stopped");
    return cli::exit_ok;
}

result<service_runtime*> fleet_runner::find(std::string_view name,
                                            std::optional<std::uint32_t> replica) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
        std::vector<std::string_view> names;
        for (const auto& [known, svc] : by_name_) {
            names.push_back(known);
        }
        return error(ENOENT, "no service named '" + std::string(name) + "'" +
                                 config::did_you_mean(name, names));
    }
    auto count = it->second->replicas().size();
    if (replica && *replica >= count) {
        return error(ENOENT, "service " + std::string(name) + " has no replica " +
                                 std::to_string(*replica) + " (it has " + std::to_string(count) +
                                 (count == 1 ? " replica)" : " replicas)"));
    }
    return it->second;
}

std::vector<service_view> fleet_runner::services(std::optional<std::string_view> service) {
    std::vector<service_view> out;
    auto now = lifecycle::clock::now();
    for (const auto& svc : services_) {
        if (service && svc->name() != *service) {
            continue;
        }
        service_view view;
        view.name = svc->name();
        view.desired = svc->spec().replicas;
        view.image = svc->spec().image.value_or("");
        if (svc->image_hold.held()) {
            view.labels = svc->image_hold.image().config.labels;
        }
        for (const auto& r : svc->replicas()) {
            replica_view rv;
            rv.service = svc->name();
            rv.index = r->expanded.index;
            rv.state = lifecycle::to_string(r->status.current);
            rv.pid = r->proc && r->proc->alive() ? r->proc->pid() : -1;
            if (r->status.up_since) {
                rv.uptime_seconds =
                    std::chrono::duration<double>(now - *r->status.up_since).count();
            }
            rv.restarts = r->status.restarts;
            rv.last_exit = r->status.last_exit;
            rv.last_exit_oom = r->last_exit_oom;
            rv.failure = r->status.failure;
            rv.cgroup_path = r->cgroup_path;
            rv.log_path = (ctx_->state_dir / "logs" / svc->name() /
                           (std::to_string(r->expanded.index) + ".log"))
                              .string();
            if (!r->cgroup_path.empty()) {
                if (auto mem = cgroup::read_memory_current(r->cgroup_path); mem && *mem) {
                    rv.memory_bytes = **mem;
                }
                if (auto cpu = cgroup::read_cpu_stat(r->cgroup_path); cpu && *cpu) {
                    rv.cpu_seconds = static_cast<double>((*cpu)->usage_usec) / 1e6;
                }
            }
            view.replicas.push_back(std::move(rv));
        }
        out.push_back(std::move(view));
    }
    return out;
}

berth::status fleet_runner::start(std::string_view service, std::optional<std::uint32_t> replica) {
    auto svc = find(service, replica);
    if (!svc) {
        return svc.error();
    }
    if (shutting_down_) {
        return error(EBUSY, "the fleet is shutting down");
    }
    (*svc)->send(replica, lifecycle::event_kind::up);
    return {};
}

berth::status fleet_runner::stop(std::string_view service, std::optional<std::uint32_t> replica) {
    auto svc = find(service, replica);
    if (!svc) {
        return svc.error();
    }
    (*svc)->send(replica, lifecycle::event_kind::down);
    return {};
}

berth::status fleet_runner::restart(std::string_view service,
                                    std::optional<std::uint32_t> replica) {
    auto svc = find(service, replica);
    if (!svc) {
        return svc.error();
    }
    if (shutting_down_) {
        return error(EBUSY, "the fleet is shutting down");
    }
    // Down then up: a running replica stops and starts again at its exit.
    (*svc)->send(replica, lifecycle::event_kind::down);
    (*svc)->send(replica, lifecycle::event_kind::up);
    return {};
}

void fleet_runner::shutdown(bool reboot) {
    if (shutting_down_) {
        return;
    }
    ending_ = reboot ? pid1::ending::reboot : pid1::ending::power_off;
    logger()->info("shutdown requested through the control API");
    begin_shutdown();
}

} // namespace berth
