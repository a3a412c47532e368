// What the replicas' lifecycle tells berth's metrics registry: states, starts and their phase
// timings, restarts, exits by reason, and the cgroup leaves the collector reads.
//
// service_runtime calls these at its lifecycle steps (docs/metrics.md, "How the supervisor
// reports"). Each takes the registry as a nullable pointer: nullptr (no metrics endpoint, or a
// test without metrics) does nothing. All run on the loop and never throw.
#pragma once

#include "engine/container.hpp"
#include "supervisor/lifecycle.hpp"

#include <cstdint>

namespace berth::metrics {
class registry;
} // namespace berth::metrics

namespace berth {

struct replica_runtime;

namespace replica_metrics {

// The replica's cgroup leaf exists (r.cgroup_path): the collector reads it from now on.
void leaf_added(metrics::registry* reg, const replica_runtime& r) noexcept;

// The replica is going away (its leaf removed, or the replica dropped by a scale-down): its
// per-container series and its state leave the exposition.
void removed(metrics::registry* reg, const replica_runtime& r) noexcept;

// After one lifecycle step of r that began in state `before` with `restarts_before` restarts,
// at `now`: the new state, a restart, the workload's exec (the start phases) and readiness.
void stepped(metrics::registry* reg, const replica_runtime& r, lifecycle::state before,
             std::uint64_t restarts_before, lifecycle::clock::time_point now) noexcept;

// r's main process was reaped; `seen.oom_killed` already says whether memory.events counted an
// OOM kill during the run.
void exited(metrics::registry* reg, const replica_runtime& r, const container_exit& seen) noexcept;

} // namespace replica_metrics
} // namespace berth
