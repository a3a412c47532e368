// Reporting the replicas' lifecycle to the metrics registry.
#include "supervisor/replica_metrics.hpp"

#include "metrics/registry.hpp"
#include "supervisor/service.hpp"

#include <charconv>
#include <string_view>

namespace berth::replica_metrics {
namespace {

using lifecycle::state;

// The replica's label ("3"), without an allocation.
class replica_label {
public:
    explicit replica_label(std::uint32_t index) noexcept {
        auto [end, ec] = std::to_chars(buf_, buf_ + sizeof buf_, index);
        size_ = ec == std::errc{} ? static_cast<std::size_t>(end - buf_) : 0;
    }

    std::string_view view() const noexcept { return {buf_, size_}; }

private:
    char buf_[12];
    std::size_t size_;
};

metrics::duration between(lifecycle::clock::time_point from, lifecycle::clock::time_point to) {
    return std::chrono::duration_cast<metrics::duration>(to - from);
}

// The workload was exec'd (the replica left starting for running or ready). The phases are
// measured from the spawn action and from clone3's return (container::started_at).
void report_started(metrics::registry& reg, const replica_runtime& r,
                    lifecycle::clock::time_point now) noexcept {
    metrics::start_timing timing;
    timing.to_running = between(r.spawn_action_at, now);
    if (r.proc && r.proc->started_at() >= r.spawn_action_at) {
        timing.spawn = between(r.spawn_action_at, r.proc->started_at());
        timing.shim_setup = between(r.proc->started_at(), now);
    }
    reg.container_started(timing);
}

} // namespace

void leaf_added(metrics::registry* reg, const replica_runtime& r) noexcept {
    if (reg == nullptr) {
        return;
    }
    try {
        reg->container_added(r.owner.name(), replica_label(r.expanded.index).view(), r.cgroup_path);
    } catch (const std::exception&) {
        // Copying the path failed (out of memory): this container has no series; the
        // registry logs its own failures, and nothing else depends on it.
    }
}

void removed(metrics::registry* reg, const replica_runtime& r) noexcept {
    if (reg != nullptr) {
        reg->container_removed(r.owner.name(), replica_label(r.expanded.index).view());
    }
}

void stepped(metrics::registry* reg, const replica_runtime& r, state before,
             std::uint64_t restarts_before, lifecycle::clock::time_point now) noexcept {
    if (reg == nullptr) {
        return;
    }
    const auto& service = r.owner.name();
    auto current = r.status.current;
    if (current != before) {
        reg->replica_state(service, replica_label(r.expanded.index).view(),
                           lifecycle::to_string(current));
    }
    for (auto n = restarts_before; n < r.status.restarts; ++n) {
        reg->service_restarted(service);
    }
    if (before == state::starting && (current == state::running || current == state::ready)) {
        report_started(*reg, r, now);
    }
    if (before != state::ready && current == state::ready) {
        reg->container_ready(between(r.spawn_action_at, now));
    }
}

void exited(metrics::registry* reg, const replica_runtime& r, const container_exit& seen) noexcept {
    if (reg == nullptr) {
        return;
    }
    auto reason = seen.oom_killed         ? metrics::exit_reason::oom
                  : seen.process.signaled ? metrics::exit_reason::signal
                                          : metrics::exit_reason::code;
    // reap_latency is known when the fleet has an exit clock (docs/metrics.md).
    reg->container_exited(r.owner.name(), reason, seen.reap_latency);
}

} // namespace berth::replica_metrics
