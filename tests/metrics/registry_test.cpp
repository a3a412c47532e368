// Unit tests of the registry: series appear and disappear with the supervisor's calls,
// counters count, histograms observe, and every scrape parses back as valid exposition text.
#include "metrics/registry.hpp"
#include "tests/metrics/exposition.hpp"

#include <gtest/gtest.h>

namespace berth::metrics {
namespace {

using namespace std::chrono_literals;
using testing::parse;

registry::options lifecycle_options() {
    registry::options o;
    o.replica_states = {"waiting",  "starting", "running", "ready",
                        "stopping", "backoff",  "exited",  "failed"};
    o.running_states = {"running", "ready", "stopping"};
    o.version = "9.8.7-test";
    return o;
}

testing::exposition scrape(registry& r) {
    auto e = parse(r.scrape());
    for (const auto& err : e.errors) {
        ADD_FAILURE() << err;
    }
    return e;
}

// Stores a reading for a container as the collector would.
void read_as_collector(registry& r, std::string_view service, std::string_view replica,
                       container_stats stats) {
    container_table::cursor at;
    while (auto* e = r.containers().next_after(at)) {
        at.emplace(e->service, e->replica);
        if (e->service == service && e->replica == replica) {
            container_table::update(*e, std::move(stats));
            return;
        }
    }
    ADD_FAILURE() << service << "/" << replica << " is not in the table";
}

TEST(metrics_registry, a_fresh_registry_exposes_the_supervisor_series) {
    registry r(lifecycle_options());
    auto e = scrape(r);
    EXPECT_EQ(e.value("berth_build_info", {{"version", "9.8.7-test"}}), 1.0);
    EXPECT_EQ(e.types["berth_build_info"], "gauge");
    EXPECT_GT(e.value("berth_process_resident_memory_bytes").value_or(0), 0.0);
    EXPECT_FALSE(e.has_family("berth_process_open_fds")) << "counted by the collector";
    EXPECT_GE(e.value("berth_uptime_seconds").value_or(-1), 0.0);
    EXPECT_EQ(e.value("berth_containers_started_total"), 0.0);
    EXPECT_EQ(e.types["berth_container_start_duration_seconds"], "histogram");
    for (const char* phase : {"spawn", "shim_setup", "to_running", "to_ready"}) {
        EXPECT_EQ(e.value("berth_container_start_duration_seconds_count", {{"phase", phase}}), 0.0)
            << phase;
    }
    EXPECT_EQ(e.types["berth_container_reap_latency_seconds"], "histogram");
    EXPECT_EQ(e.value("berth_loop_completions_total"), 0.0);
    EXPECT_EQ(e.value("berth_loop_pending_operations"), 0.0);
    EXPECT_EQ(e.value("berth_metrics_refreshes_total"), 0.0);
    // Nothing per service or per container yet: not even the headers.
    EXPECT_FALSE(e.has_family("berth_service_replicas"));
    EXPECT_FALSE(e.has_family("berth_container_cpu_usage_seconds_total"));
}

TEST(metrics_registry, the_build_version_is_the_default) {
    registry::options o = lifecycle_options();
    o.version.clear();
    registry r(o);
    auto e = scrape(r);
    EXPECT_EQ(e.value("berth_build_info", {{"version", BERTH_VERSION}}), 1.0);
}

TEST(metrics_registry, counts_replicas_by_state_as_they_move) {
    registry r(lifecycle_options());
    r.set_service("web", 3);
    for (const char* replica : {"0", "1", "2"}) {
        r.replica_state("web", replica, "starting");
    }
    r.replica_state("web", "0", "running");
    r.replica_state("web", "1", "ready");

    auto e = scrape(r);
    EXPECT_EQ(e.value("berth_service_desired_replicas", {{"service", "web"}}), 3.0);
    EXPECT_EQ(e.value("berth_service_running_replicas", {{"service", "web"}}), 2.0);
    EXPECT_EQ(e.value("berth_service_replicas", {{"service", "web"}, {"state", "starting"}}), 1.0);
    EXPECT_EQ(e.value("berth_service_replicas", {{"service", "web"}, {"state", "running"}}), 1.0);
    EXPECT_EQ(e.value("berth_service_replicas", {{"service", "web"}, {"state", "ready"}}), 1.0);
    // Every state has a sample, zeros included, so that absent means "no such service".
    EXPECT_EQ(e.find("berth_service_replicas", {{"service", "web"}}).size(), 8u);
    EXPECT_EQ(e.value("berth_service_replicas", {{"service", "web"}, {"state", "failed"}}), 0.0);

    r.replica_state("web", "1", "backoff");
    e = scrape(r);
    EXPECT_EQ(e.value("berth_service_running_replicas", {{"service", "web"}}), 1.0);
    EXPECT_EQ(e.value("berth_service_replicas", {{"service", "web"}, {"state", "ready"}}), 0.0);
    EXPECT_EQ(e.value("berth_service_replicas", {{"service", "web"}, {"state", "backoff"}}), 1.0);
}

TEST(metrics_registry, ignores_a_state_it_was_not_given) {
    registry r(lifecycle_options());
    r.set_service("web", 1);
    r.replica_state("web", "0", "running");
    r.replica_state("web", "0", "levitating");
    auto e = scrape(r);
    EXPECT_EQ(e.value("berth_service_replicas", {{"service", "web"}, {"state", "running"}}), 1.0);
    EXPECT_TRUE(e.find("berth_service_replicas", {{"state", "levitating"}}).empty());
}

TEST(metrics_registry, counts_restarts_and_exits_by_reason) {
    registry r(lifecycle_options());
    r.set_service("db", 1);
    r.service_restarted("db");
    r.service_restarted("db");
    r.container_exited("db", exit_reason::code);
    r.container_exited("db", exit_reason::signal, 40us);
    r.container_exited("db", exit_reason::oom, 2ms);
    r.container_exited("db", exit_reason::oom);

    auto e = scrape(r);
    EXPECT_EQ(e.value("berth_service_restarts_total", {{"service", "db"}}), 2.0);
    EXPECT_EQ(e.types["berth_service_restarts_total"], "counter");
    EXPECT_EQ(e.value("berth_service_exits_total", {{"service", "db"}, {"reason", "code"}}), 1.0);
    EXPECT_EQ(e.value("berth_service_exits_total", {{"service", "db"}, {"reason", "signal"}}), 1.0);
    EXPECT_EQ(e.value("berth_service_exits_total", {{"service", "db"}, {"reason", "oom"}}), 2.0);
    // Only the exits with a latency are observed.
    EXPECT_EQ(e.value("berth_container_reap_latency_seconds_count"), 2.0);
    EXPECT_NEAR(e.value("berth_container_reap_latency_seconds_sum").value_or(0), 0.00204, 1e-9);
    EXPECT_EQ(e.value("berth_container_reap_latency_seconds_bucket", {{"le", "5e-05"}}), 1.0);
    EXPECT_EQ(e.value("berth_container_reap_latency_seconds_bucket", {{"le", "+Inf"}}), 2.0);
}

TEST(metrics_registry, observes_start_phases_and_counts_starts) {
    registry r(lifecycle_options());
    start_timing t;
    t.spawn = 150us;
    t.shim_setup = 2ms;
    t.to_running = 3ms;
    r.container_started(t);
    r.container_started({.spawn = 300us, .shim_setup = {}, .to_running = {}});
    r.container_ready(1500ms);

    auto e = scrape(r);
    EXPECT_EQ(e.value("berth_containers_started_total"), 2.0);
    auto count = [&](const char* phase) {
        return e.value("berth_container_start_duration_seconds_count", {{"phase", phase}});
    };
    EXPECT_EQ(count("spawn"), 2.0);
    EXPECT_EQ(count("shim_setup"), 1.0);
    EXPECT_EQ(count("to_running"), 1.0);
    EXPECT_EQ(count("to_ready"), 1.0);
    EXPECT_NEAR(
        e.value("berth_container_start_duration_seconds_sum", {{"phase", "spawn"}}).value_or(0),
        0.00045, 1e-12);
    EXPECT_EQ(e.value("berth_container_start_duration_seconds_bucket",
                      {{"phase", "to_ready"}, {"le", "1"}}),
              0.0);
    EXPECT_EQ(e.value("berth_container_start_duration_seconds_bucket",
                      {{"phase", "to_ready"}, {"le", "2.5"}}),
              1.0);
}

TEST(metrics_registry, loop_figures_are_what_the_supervisor_reports) {
    registry r(lifecycle_options());
    r.add_loop_completions(5);
    r.add_loop_completions(7);
    r.set_pending_operations(42);
    r.set_pending_operations(17);
    auto e = scrape(r);
    EXPECT_EQ(e.value("berth_loop_completions_total"), 12.0);
    EXPECT_EQ(e.value("berth_loop_pending_operations"), 17.0);
}

TEST(metrics_registry, container_series_appear_with_the_first_reading_and_go_when_removed) {
    registry r(lifecycle_options());
    r.set_service("web", 2);
    r.replica_state("web", "0", "running");
    r.replica_state("web", "1", "running");
    r.container_added("web", "0", "/nonexistent/web/0");
    r.container_added("web", "1", "/nonexistent/web/1");
    EXPECT_EQ(r.containers().size(), 2u);

    auto e = scrape(r);
    EXPECT_FALSE(e.has_family("berth_container_cpu_usage_seconds_total")) << "no reading yet";

    container_stats s;
    s.cpu = cgroup::cpu_stat{};
    s.cpu->usage_usec = 2500000;
    s.cpu->user_usec = 2000000;
    s.cpu->system_usec = 500000;
    s.memory_current = 4096;
    read_as_collector(r, "web", "0", s);
    read_as_collector(r, "web", "1", s);
    e = scrape(r);
    EXPECT_EQ(
        e.value("berth_container_cpu_usage_seconds_total", {{"service", "web"}, {"replica", "0"}}),
        2.5);
    EXPECT_EQ(e.value("berth_container_memory_usage_bytes", {{"service", "web"}, {"replica", "1"}}),
              4096.0);
    EXPECT_EQ(e.types["berth_container_memory_usage_bytes"], "gauge");
    EXPECT_FALSE(e.has_family("berth_container_pids")) << "pids.current was absent";

    r.container_removed("web", "1");
    e = scrape(r);
    EXPECT_EQ(r.containers().size(), 1u);
    EXPECT_EQ(e.find("berth_container_cpu_usage_seconds_total").size(), 1u);
    for (const auto& smp : e.samples) {
        if (smp.labels.count("replica")) {
            EXPECT_NE(smp.labels.at("replica"), "1") << smp.name;
        }
    }
    // The replica's state went with it.
    EXPECT_EQ(e.value("berth_service_replicas", {{"service", "web"}, {"state", "running"}}), 1.0);
    EXPECT_EQ(e.value("berth_service_running_replicas", {{"service", "web"}}), 1.0);

    r.container_removed("web", "0");
    e = scrape(r);
    EXPECT_FALSE(e.has_family("berth_container_cpu_usage_seconds_total"));
    EXPECT_FALSE(e.has_family("berth_container_memory_usage_bytes"));
    r.container_removed("web", "0"); // unknown now: nothing happens
}

TEST(metrics_registry, a_removed_service_disappears) {
    registry r(lifecycle_options());
    r.set_service("a", 1);
    r.set_service("b", 1);
    r.service_restarted("a");
    r.service_removed("a");
    auto e = scrape(r);
    EXPECT_TRUE(e.find("berth_service_desired_replicas", {{"service", "a"}}).empty());
    EXPECT_TRUE(e.find("berth_service_restarts_total", {{"service", "a"}}).empty());
    EXPECT_EQ(e.value("berth_service_desired_replicas", {{"service", "b"}}), 1.0);
}

TEST(metrics_registry, label_values_are_escaped) {
    registry r(lifecycle_options());
    std::string odd = "we\"ird\\na\nme";
    r.set_service(odd, 1);
    r.container_added(odd, "0", "/nonexistent");
    container_stats zero;
    zero.cpu = cgroup::cpu_stat{};
    read_as_collector(r, odd, "0", zero);
    auto e = scrape(r);
    EXPECT_EQ(e.value("berth_service_desired_replicas", {{"service", odd}}), 1.0);
    EXPECT_EQ(e.value("berth_container_cpu_usage_seconds_total", {{"service", odd}}), 0.0);
}

TEST(metrics_registry, many_services_and_containers_keep_every_family_in_one_group) {
    registry r(lifecycle_options());
    container_stats full;
    full.cpu = cgroup::cpu_stat{1, 2, 3, 4, 5, 6};
    full.memory_current = 1;
    full.memory_peak = 2;
    full.memory_events = cgroup::memory_events{};
    full.pids_current = 3;
    full.io = cgroup::io_stat{10, 20, 1, 2};
    for (int s = 0; s < 20; ++s) {
        std::string svc = "svc" + std::to_string(s);
        r.set_service(svc, 5);
        for (int i = 0; i < 5; ++i) {
            r.replica_state(svc, std::to_string(i), "ready");
            r.container_added(svc, std::to_string(i), "/nonexistent");
            read_as_collector(r, svc, std::to_string(i), full);
        }
    }
    auto e = scrape(r); // the parser fails the test on a split family or a duplicate series
    EXPECT_EQ(e.find("berth_container_cpu_usage_seconds_total").size(), 100u);
    EXPECT_EQ(e.find("berth_container_memory_events_total").size(), 400u);
    EXPECT_EQ(e.find("berth_container_memory_events_total", {{"event", "oom_kill"}}).size(), 100u);
    EXPECT_EQ(e.find("berth_service_replicas").size(), 160u);
    EXPECT_EQ(e.find("berth_service_running_replicas").size(), 20u);
}

} // namespace
} // namespace berth::metrics
