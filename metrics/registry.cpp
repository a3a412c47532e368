// berth's metrics registry: supervisor-wide series through prometheus-cpp, the per-service and
// per-container tables, and the scrape that joins them.
#include "metrics/registry.hpp"

#include "engine/log.hpp"
#include "metrics/process_stats.hpp"
#include "metrics/scrape.hpp"

#include <prometheus/text_serializer.h>

#include <exception>

namespace berth::metrics {
namespace {

std::shared_ptr<spdlog::logger> logger() {
    return log::get("metrics");
}

// Container starts take from ~0.1 ms (spawn) to seconds (readiness).
const prometheus::Histogram::BucketBoundaries start_buckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,     0.25,   0.5,     1,      2.5,   5,      10,    30,   60};

// An exit is normally reaped within microseconds; a busy loop delays it.
const prometheus::Histogram::BucketBoundaries reap_buckets = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
    0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   0.5,   1};

double seconds(duration d) {
    return std::chrono::duration<double>(d).count();
}

prometheus::Counter* counter(prometheus::Registry& r, const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

prometheus::Gauge* gauge(prometheus::Registry& r, const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

// Runs an update; an exception (std::bad_alloc) loses the update, never the supervisor.
template <typename F> void guarded(const char* what, F&& update) noexcept {
    try {
        update();
    } catch (const std::exception& e) {
        logger()->warn("{}: {}; the update is lost", what, e.what());
    }
}

} // namespace

registry::registry(options opts)
    : services_(std::move(opts.replica_states), std::move(opts.running_states)) {
    auto start = start_time_since_boot();
    started_since_boot_ = start ? *start : seconds_since_boot();
    started_ = counter(prom_, "berth_containers_started_total",
                       "Containers whose workload was exec'd, restarts included.");
    auto& phases = prometheus::BuildHistogram()
                       .Name("berth_container_start_duration_seconds")
                       .Help("Time of each phase of a container start: spawn (the spawn "
                             "action to clone3's return, on the loop), shim_setup (clone3's "
                             "return to the workload's exec), to_running and to_ready (from "
                             "the spawn action).")
                       .Register(prom_);
    const char* names[] = {"spawn", "shim_setup", "to_running", "to_ready"};
    for (std::size_t i = 0; i < start_phase_.size(); ++i) {
        start_phase_[i] = &phases.Add({{"phase", names[i]}}, start_buckets);
    }
    reap_latency_ = &prometheus::BuildHistogram()
                         .Name("berth_container_reap_latency_seconds")
                         .Help("Time from a container's exit to berth collecting its status.")
                         .Register(prom_)
                         .Add({}, reap_buckets);
    loop_completions_ = counter(prom_, "berth_loop_completions_total",
                                "Completion handlers the event loop has run.");
    pending_operations_ = gauge(prom_, "berth_loop_pending_operations",
                                "Processes whose exit the event loop waits for (pidfd waits).");
    resident_memory_ = gauge(prom_, "berth_process_resident_memory_bytes",
                             "Resident memory of the berth process (/proc/self/statm).");
    open_fds_family_ = &prometheus::BuildGauge()
                            .Name("berth_process_open_fds")
                            .Help("File descriptors the berth process holds open (/proc/self/fd, "
                                  "counted once per refresh).")
                            .Register(prom_);
    uptime_ = gauge(prom_, "berth_uptime_seconds", "Time since the berth process started.");
    prometheus::BuildGauge()
        .Name("berth_build_info")
        .Help("Always 1; the version label says which berth is running.")
        .Register(prom_)
        .Add({{"version", opts.version.empty() ? std::string(BERTH_VERSION) : opts.version}})
        .Set(1);
    refresh_duration_ = gauge(prom_, "berth_metrics_refresh_duration_seconds",
                              "Wall time of the latest complete refresh of the cgroup "
                              "statistics of every container.");
    refresh_longest_batch_ = gauge(prom_, "berth_metrics_refresh_longest_batch_seconds",
                                   "The longest time one batch of the latest refresh held the "
                                   "event loop.");
    refreshes_ = counter(prom_, "berth_metrics_refreshes_total",
                         "Complete refreshes of the containers' cgroup statistics.");
    read_errors_ = counter(prom_, "berth_metrics_read_errors_total",
                           "cgroup statistics files that exist but could not be read or parsed.");
}

void registry::set_service(std::string_view service, std::uint32_t desired_replicas) noexcept {
    ++generation_;
    guarded("set_service", [&] { services_.set_desired(service, desired_replicas); });
}

void registry::service_removed(std::string_view service) noexcept {
    ++generation_;
    services_.remove(service);
}

void registry::replica_state(std::string_view service, std::string_view replica,
                             std::string_view state) noexcept {
    ++generation_;
    guarded("replica_state", [&] {
        if (!services_.set_replica_state(service, replica, state) && !unknown_state_logged_) {
            unknown_state_logged_ = true;
            logger()->warn("service {}/{}: state '{}' is not one the registry was given; "
                           "left out of berth_service_replicas",
                           service, replica, state);
        }
    });
}

void registry::service_restarted(std::string_view service) noexcept {
    ++generation_;
    guarded("service_restarted", [&] { services_.count_restart(service); });
}

void registry::container_added(std::string_view service, std::string_view replica,
                               std::string cgroup_path) noexcept {
    ++generation_;
    guarded("container_added", [&] { containers_.add(service, replica, std::move(cgroup_path)); });
}

void registry::container_removed(std::string_view service, std::string_view replica) noexcept {
    ++generation_;
    containers_.remove(service, replica);
    guarded("container_removed", [&] { services_.remove_replica(service, replica); });
}

void registry::container_started(const start_timing& timing) noexcept {
    ++generation_;
    started_->Increment();
    const std::optional<duration>* phase[] = {&timing.spawn, &timing.shim_setup,
                                              &timing.to_running};
    for (std::size_t i = 0; i < 3; ++i) {
        if (*phase[i]) {
            start_phase_[i]->Observe(seconds(**phase[i]));
        }
    }
}

void registry::container_ready(duration since_spawn) noexcept {
    ++generation_;
    start_phase_[3]->Observe(seconds(since_spawn));
}

void registry::container_exited(std::string_view service, exit_reason reason,
                                std::optional<duration> reap_latency) noexcept {
    ++generation_;
    guarded("container_exited", [&] { services_.count_exit(service, reason); });
    if (reap_latency) {
        reap_latency_->Observe(seconds(*reap_latency));
    }
}

void registry::add_loop_completions(std::uint64_t n) noexcept {
    loop_completions_->Increment(static_cast<double>(n));
}

void registry::set_pending_operations(std::uint64_t n) noexcept {
    pending_operations_->Set(static_cast<double>(n));
}

void registry::refresh_finished(const refresh_report& report) noexcept {
    ++generation_;
    refresh_duration_->Set(seconds(report.elapsed));
    refresh_longest_batch_->Set(seconds(report.longest_batch));
    refreshes_->Increment();
    read_errors_->Increment(static_cast<double>(report.errors));
    if (report.open_fds) {
        guarded("refresh_finished", [&] {
            if (open_fds_ == nullptr) {
                open_fds_ = &open_fds_family_->Add({});
            }
            open_fds_->Set(static_cast<double>(*report.open_fds));
        });
    }
}

void registry::update_process_gauges() noexcept {
    uptime_->Set(seconds_since_boot() - started_since_boot_);
    if (auto rss = resident_memory_bytes(); rss) {
        resident_memory_->Set(static_cast<double>(*rss));
    }
}

std::string registry::supervisor_text() {
    update_process_gauges();
    return prometheus::TextSerializer().Serialize(prom_.Collect());
}

std::string registry::scrape() {
    scrape_builder build(*this, last_size_);
    text::piece_budget unlimited;
    while (!build.step(unlimited)) {
    }
    std::string body = build.take();
    last_size_ = body.size();
    return body;
}

} // namespace berth::metrics
