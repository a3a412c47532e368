// A service at run time: its replicas, each driven through the lifecycle by the actions the
// lifecycle returns (spawn, signal, cgroup.kill, timers), and the dependency state it shares.
#pragma once

#include "config/fleet.hpp"
#include "config/replica.hpp"
#include "engine/cgroup.hpp"
#include "engine/container.hpp"
#include "engine/image_store.hpp"
#include "engine/volume_store.hpp"
#include "supervisor/lifecycle.hpp"
#include "supervisor/notify.hpp"
#include "supervisor/probe.hpp"

#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace berth::metrics {
class registry;
} // namespace berth::metrics

namespace berth {

// What every service shares: the loop and the engine's parts.
struct runtime_context {
    boost::asio::io_context& io;
    spawner& spawn;
    reaper& reap;
    const cgroup::tree& cgroups;
    std::string shim_path;
    std::filesystem::path state_dir;
    std::filesystem::path scratch_dir; // empty dir the shims mount their tmpfs on
    std::string dev_template = {};     // the shared /dev the shims bind; empty: each builds one
    bool memory_controller = false;    // memory.events exists in replica leaves
    std::mt19937 rng{lifecycle::jitter_seed()};
    // Where lifecycle events are reported (supervisor/replica_metrics.hpp); nullptr: nowhere
    // (metrics_listen = "none", its set-up failed, or a test without metrics).
    metrics::registry* metrics = nullptr;
    // Named, anonymous and bind volumes; nullptr: a service with volumes fails to start.
    const volume_store* volumes = nullptr;
};

class service_runtime;

struct replica_runtime {
    replica_runtime(service_runtime& owner, std::uint32_t index);

    service_runtime& owner;
    config::replica expanded;
    lifecycle::replica_status status;
    std::unique_ptr<container> proc;
    boost::asio::steady_timer timer;
    std::uint64_t timer_generation = 0;
    std::shared_ptr<char> alive = std::make_shared<char>(); // weakly held by queued handlers
    std::string cgroup_path;
    bool limits_applied = false;
    // cgroup.kill reached the leaf: it is replaced before the next spawn.
    bool leaf_killed = false;
    // Leases on the named volumes of the latest run, kept through restarts so that
    // `berth volume rm` refuses them while the replica exists.
    std::vector<volume_lease> volume_leases;
    std::uint64_t oom_kills_before = 0; // memory.events oom_kill when the run started
    bool last_exit_oom = false;
    // When the current run's spawn action began: the start phases are measured from it.
    lifecycle::clock::time_point spawn_action_at{};
    std::string notify_status; // the last STATUS= it sent over sd_notify
    // readiness = "notify": this replica's own socket, so a message is known to be its own
    // even when the sender has exited before the loop reads it.
    std::unique_ptr<notify_listener> notify;
    // readiness = exec: runs the probe while the replica is running (supervisor/probe.hpp).
    std::unique_ptr<exec_probe> probe;
    std::deque<lifecycle::event> pending; // events raised while an event is being handled
    bool dispatching = false;
};

class service_runtime {
public:
    // Called after any replica of any service changed state (dependencies, shutdown).
    using change_handler = std::function<void(service_runtime&)>;

    service_runtime(runtime_context& ctx, config::service spec, std::string image_lower,
                    change_handler on_change);

    const std::string& name() const noexcept { return spec_.name; }
    boost::asio::io_context& io() const noexcept { return ctx_.io; }
    const config::service& spec() const noexcept { return spec_; }
    const std::vector<std::unique_ptr<replica_runtime>>& replicas() const noexcept {
        return replicas_;
    }

    // Prepares the service's cgroup (created, limits written). Errors fail every replica.
    status prepare() noexcept;

    // Makes every start of this service fail with `reason` (its image could not be mounted).
    void set_unavailable(std::string reason) noexcept { prepare_error_ = std::move(reason); }

    // The layer store's name of the image mount this service holds a reference on, if any.
    std::string image_key;
    // For a ref image: the lease that makes `berth image rm` refuse it while this service runs.
    image_lease image_hold;
    // root_switch = "template": the image's root template (engine/root_template.hpp), held in
    // the fleet's root_templates under image_lower(); -1: none, the replicas pivot_root.
    int root_template_fd = -1;
    const std::string& image_lower() const noexcept { return image_lower_; }

    void start_all() noexcept; // "up" to every replica
    void stop_all() noexcept;  // "down" to every replica
    // One lifecycle event to one replica (index < replicas().size()), or to every replica.
    void send(std::optional<std::uint32_t> replica, lifecycle::event_kind kind) noexcept;

    // An sd_notify message from a process of replica r.
    void on_notify(replica_runtime& r, std::string_view message) noexcept;
    void kill_all() noexcept; // cgroup.kill on the whole service
    void set_dependencies_ok(bool ok, const std::string& reason) noexcept;

    // Every replica is ready (a service with 0 replicas counts as up).
    bool up() const noexcept;
    // Some replica has given up (failed).
    bool failed() const noexcept;
    // No replica has a process or is about to start one.
    bool stopped() const noexcept;

    // Removes the replicas' leaves and the service cgroup; call once stopped().
    void remove_cgroups() noexcept;

    // A reload's new replica count: new replicas start (after their dependencies), the ones
    // past it stop; trim() then drops those once they have stopped. Touches no other replica.
    void scale(std::uint32_t replicas) noexcept;
    void trim() noexcept;

private:
    void dispatch(replica_runtime& r, lifecycle::event ev) noexcept;
    void perform(replica_runtime& r, const lifecycle::action& a) noexcept;
    void spawn(replica_runtime& r) noexcept;
    status spawn_checked(replica_runtime& r);
    shim_spec credentials_spec(const replica_runtime& r) const;
    std::vector<std::string> workload_env(const replica_runtime& r) const;
    void update_probe(replica_runtime& r) noexcept;
    void on_exit(replica_runtime& r, const container_exit& exit) noexcept;
    void arm_timer(replica_runtime& r, lifecycle::duration delay) noexcept;
    // The replica goes away: its volume leases go, its anonymous volumes are removed.
    void drop_anonymous_volumes(replica_runtime& r) noexcept;
    void report(const replica_runtime& r, lifecycle::state before) const noexcept;

    runtime_context& ctx_;
    config::service spec_;
    std::string image_lower_;
    lifecycle::policy policy_;
    change_handler on_change_;
    std::string cgroup_path_;
    std::string prepare_error_;
    std::vector<std::unique_ptr<replica_runtime>> replicas_;
};

// The lifecycle policy of a service (config terms to lifecycle terms).
lifecycle::policy policy_of(const config::service& s);

// The cgroup limits of a config limits block.
cgroup::limits limits_of(const config::limits& l);

} // namespace berth
