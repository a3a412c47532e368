// berth's metrics: what the supervisor reports (lifecycle events, loop figures) and the latest
// cgroup statistics, rendered as one Prometheus text exposition per scrape.
//
// Three parts make up a scrape, each written once per family (metrics/scrape.hpp writes them
// in pieces across loop turns; scrape() here, all at once):
//   supervisor-wide series  prometheus-cpp core (Registry, Counter, Gauge, Histogram) and its
//                           TextSerializer: a few dozen series;
//   per-service series      service_table: counts kept from the supervisor's events;
//   per-container series    container_table: the collector's latest cgroup readings.
// The last two are pre-rendered text (metrics/text.hpp), because at 10,000 containers they
// are 100,000+ series, too many to serialize through prometheus-cpp within a scrape's budget.
//
// Everything runs on the loop thread; nothing here blocks or starts a thread. The event
// methods are noexcept: a failure (out of memory) loses that update and is logged, never more.
// Names and units follow the Prometheus conventions; docs/metrics.md lists every series.
#pragma once

#include "metrics/container_table.hpp"
#include "metrics/service_table.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::metrics {

using duration = std::chrono::nanoseconds;

// How long the phases of one container start took (berth_container_start_duration_seconds
// {phase}); a phase left unset is not observed.
struct start_timing {
    std::optional<duration> spawn;      // clone3 up to its return, on the loop thread
    std::optional<duration> shim_setup; // clone3's return to the shim's exec of the workload
    std::optional<duration> to_running; // the spawn action to the running state (exec_ok)
};

// One refresh cycle of the collector: every container's cgroup files read once.
struct refresh_report {
    std::size_t containers = 0;            // containers read
    std::size_t batches = 0;               // loop turns it took
    std::size_t errors = 0;                // files that exist but could not be read or parsed
    duration elapsed{0};                   // from the first batch's start to the last batch's end
    duration busy{0};                      // the batches' time on the loop, summed
    duration longest_batch{0};             // the longest time one batch held the loop (wall time)
    duration longest_batch_cpu{0};         // the most CPU time one batch used (the rest of a long
                                           // batch is the loop thread waiting for a CPU)
    std::optional<std::uint64_t> open_fds; // the process's descriptors, counted at the end
};

class registry {
public:
    struct options {
        // Every state a replica can be in (berth_service_replicas{state}, 0s included), and
        // those that count as running (berth_service_running_replicas).
        std::vector<std::string> replica_states;
        std::vector<std::string> running_states;
        std::string version; // berth_build_info{version}; empty: this build's version
    };

    // Throws only if prometheus-cpp rejects a family (a bug caught by the tests) or on
    // std::bad_alloc: construct it during start-up, not on the loop.
    explicit registry(options opts);
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    // ---- services -------------------------------------------------------------------------

    // Announces a service (again, with a new count, after a reload).
    void set_service(std::string_view service, std::uint32_t desired_replicas) noexcept;

    // The service is gone (reload): its series disappear. Its containers are removed with
    // container_removed.
    void service_removed(std::string_view service) noexcept;

    // A replica entered `state` (one of options::replica_states; others are ignored and
    // logged once).
    void replica_state(std::string_view service, std::string_view replica,
                       std::string_view state) noexcept;

    // The restart policy restarted a replica of the service.
    void service_restarted(std::string_view service) noexcept;

    // ---- containers -----------------------------------------------------------------------

    // A replica's cgroup leaf exists at `cgroup_path`: the collector reads it from now on,
    // and its series appear with the first reading. Calling it again updates the path.
    void container_added(std::string_view service, std::string_view replica,
                         std::string cgroup_path) noexcept;

    // The replica's cgroup is removed (or the replica is): its per-container series and its
    // state in berth_service_replicas disappear from the next scrape.
    void container_removed(std::string_view service, std::string_view replica) noexcept;

    // A container's workload was exec'd: berth_containers_started_total and the phases given.
    void container_started(const start_timing& timing) noexcept;

    // A container became ready, `since_spawn` after its spawn action (phase="to_ready").
    void container_ready(duration since_spawn) noexcept;

    // A container's main process was reaped: berth_service_exits_total{reason}, and
    // `reap_latency` (its exit to berth's waitid) when known.
    void container_exited(std::string_view service, exit_reason reason,
                          std::optional<duration> reap_latency = std::nullopt) noexcept;

    // ---- the loop -------------------------------------------------------------------------

    // Handler invocations the loop ran (e.g. io_context::run_one's or poll's return values).
    void add_loop_completions(std::uint64_t n) noexcept;

    // Operations the supervisor has in flight (a gauge the supervisor defines and sets).
    void set_pending_operations(std::uint64_t n) noexcept;

    // ---- collection and exposition --------------------------------------------------------

    // The per-container snapshot the collector refreshes.
    container_table& containers() noexcept { return containers_; }
    const container_table& containers() const noexcept { return containers_; }

    // The collector finished a cycle (berth_metrics_refresh_* series, berth_process_open_fds).
    void refresh_finished(const refresh_report& report) noexcept;

    // The whole exposition (text format 0.0.4) from the latest snapshot, in one call: reads
    // only /proc/self/statm, never a cgroup. Throws std::bad_alloc only. The endpoint builds
    // it in pieces instead (metrics/scrape.hpp); both write the same bytes.
    std::string scrape();

    // The parts of a scrape, for metrics::scrape_builder: the supervisor-wide series (process
    // gauges updated first, then prometheus-cpp's TextSerializer), and the per-service table.
    std::string supervisor_text();
    const service_table& services() const noexcept { return services_; }

    // Counts the changes a scrape shows, apart from the loop's figures (completions, pending
    // operations), the process gauges read at each scrape, and the readings a refresh cycle
    // stores one by one: every supervisor event and every completed refresh cycle moves it.
    // Equal generations: the snapshot differs only in those (metrics/scrape.hpp shares a
    // finished body while its generation is current).
    std::uint64_t generation() const noexcept { return generation_; }

private:
    void update_process_gauges() noexcept;

    double started_since_boot_; // when the process started (CLOCK_BOOTTIME seconds)
    prometheus::Registry prom_;
    prometheus::Counter* started_;
    std::array<prometheus::Histogram*, 4> start_phase_; // spawn, shim_setup, to_running, to_ready
    prometheus::Histogram* reap_latency_;
    prometheus::Counter* loop_completions_;
    prometheus::Gauge* pending_operations_;
    prometheus::Gauge* resident_memory_;
    prometheus::Family<prometheus::Gauge>* open_fds_family_;
    prometheus::Gauge* open_fds_ = nullptr; // added with the first count
    prometheus::Gauge* uptime_;
    prometheus::Gauge* refresh_duration_;
    prometheus::Gauge* refresh_longest_batch_;
    prometheus::Counter* refreshes_;
    prometheus::Counter* read_errors_;
    service_table services_;
    container_table containers_;
    std::uint64_t generation_ = 0;
    std::size_t last_size_ = 0; // the previous scrape()'s size, reserved for the next one
    bool unknown_state_logged_ = false;
};

} // namespace berth::metrics
