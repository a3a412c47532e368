// Unit tests of the collector on fake cgroup directories: what one reading exposes, batching
// (a bounded number of containers per loop turn), absent files, errors, containers added or
// removed during a cycle, periodic cycles, pausing without scrapes, stop and destruction.
#include "metrics/collector.hpp"
#include "tests/metrics/exposition.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace berth::metrics {
namespace {

using namespace std::chrono_literals;
using testing::fake_cgroup;
using testing::parse;

registry::options some_states() {
    registry::options o;
    o.replica_states = {"running", "exited"};
    o.running_states = {"running"};
    return o;
}

class metrics_collector : public ::testing::Test {
protected:
    // Fake leaves <tmp>/<service>/<replica>, announced to the registry.
    std::string add(const std::string& service, const std::string& replica,
                    const fake_cgroup& content = {}) {
        auto dir = tmp_.path() / service / replica;
        content.write(dir);
        reg_.container_added(service, replica, dir.string());
        return dir.string();
    }

    testing::exposition scrape() {
        auto e = parse(reg_.scrape());
        for (const auto& err : e.errors) {
            ADD_FAILURE() << err;
        }
        return e;
    }

    // Containers that have series (a reading) now.
    std::size_t containers_read() {
        return scrape().find("berth_container_cpu_usage_seconds_total").size();
    }

    testing::temp_dir tmp_;
    boost::asio::io_context io_;
    registry reg_{some_states()};
};

TEST_F(metrics_collector, one_refresh_exposes_every_statistic_of_every_container) {
    add("web", "0");
    add("web", "1");
    collector coll(io_, reg_);
    bool done = false;
    coll.refresh([&] { done = true; });
    EXPECT_FALSE(done) << "the first batch is posted, not run inside refresh()";
    io_.run();
    ASSERT_TRUE(done);

    auto e = scrape();
    std::map<std::string, std::string> web1 = {{"service", "web"}, {"replica", "1"}};
    EXPECT_EQ(e.value("berth_container_cpu_usage_seconds_total", web1), 1.5);
    EXPECT_EQ(e.value("berth_container_cpu_user_seconds_total", web1), 1.0);
    EXPECT_EQ(e.value("berth_container_cpu_system_seconds_total", web1), 0.5);
    EXPECT_EQ(e.value("berth_container_cpu_periods_total", web1), 40.0);
    EXPECT_EQ(e.value("berth_container_cpu_throttled_periods_total", web1), 7.0);
    EXPECT_EQ(e.value("berth_container_cpu_throttled_seconds_total", web1), 0.25);
    EXPECT_EQ(e.value("berth_container_memory_usage_bytes", web1), 1048576.0);
    EXPECT_EQ(e.value("berth_container_memory_peak_bytes", web1), 2097152.0);
    auto event = [&](const char* name) {
        auto labels = web1;
        labels["event"] = name;
        return e.value("berth_container_memory_events_total", labels);
    };
    EXPECT_EQ(event("high"), 3.0);
    EXPECT_EQ(event("max"), 2.0);
    EXPECT_EQ(event("oom"), 1.0);
    EXPECT_EQ(event("oom_kill"), 1.0);
    EXPECT_EQ(e.value("berth_container_pids", web1), 4.0);
    EXPECT_EQ(e.value("berth_container_io_read_bytes_total", web1), 1024.0) << "both devices";
    EXPECT_EQ(e.value("berth_container_io_written_bytes_total", web1), 2048.0);
    EXPECT_EQ(e.find("berth_container_pids").size(), 2u);

    EXPECT_EQ(coll.last_report().containers, 2u);
    EXPECT_EQ(coll.last_report().errors, 0u);
    ASSERT_TRUE(coll.last_report().open_fds.has_value());
    EXPECT_GE(*coll.last_report().open_fds, 3u);
    EXPECT_EQ(e.value("berth_process_open_fds"), static_cast<double>(*coll.last_report().open_fds));
    EXPECT_EQ(e.value("berth_metrics_refreshes_total"), 1.0);
    EXPECT_GT(e.value("berth_metrics_refresh_duration_seconds").value_or(0), 0.0);
}

TEST_F(metrics_collector, reads_a_bounded_batch_per_loop_turn) {
    for (int i = 0; i < 10; ++i) {
        add("svc", std::to_string(i));
    }
    collector_options opts;
    opts.batch_size = 3;
    opts.batch_budget = 1h; // only the count bounds a batch here
    collector coll(io_, reg_, opts);
    coll.refresh();

    std::vector<std::size_t> after_each_turn;
    while (io_.poll_one() > 0) {
        after_each_turn.push_back(containers_read());
    }
    EXPECT_EQ(after_each_turn, (std::vector<std::size_t>{3, 6, 9, 10}));
    EXPECT_EQ(coll.last_report().batches, 4u);
    EXPECT_EQ(coll.last_report().containers, 10u);
    EXPECT_FALSE(coll.cycle_running());
}

TEST_F(metrics_collector, other_handlers_run_between_two_batches) {
    for (int i = 0; i < 6; ++i) {
        add("svc", std::to_string(i));
    }
    collector_options opts;
    opts.batch_size = 2;
    opts.batch_budget = 1h;
    collector coll(io_, reg_, opts);
    coll.refresh();
    std::vector<std::size_t> seen_by_other;
    std::function<void()> other = [&] {
        seen_by_other.push_back(containers_read());
        if (coll.cycle_running()) {
            boost::asio::post(io_, other);
        }
    };
    boost::asio::post(io_, other);
    io_.run();
    // The other handler ran after every batch, not after the whole cycle.
    EXPECT_EQ(seen_by_other, (std::vector<std::size_t>{2, 4, 6}));
}

TEST_F(metrics_collector, counts_descriptors_in_pieces_and_exactly) {
    auto before = open_fds();
    ASSERT_TRUE(before.has_value()) << before.error().message();
    std::vector<unique_fd> extra;
    for (int i = 0; i < 700; ++i) {
        extra.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(extra.back().valid());
    }
    fd_counter counter;
    ASSERT_TRUE(counter.begin());
    int steps = 0;
    while (true) {
        auto done = counter.step();
        ASSERT_TRUE(done.has_value()) << done.error().message();
        ++steps;
        if (*done) {
            break;
        }
    }
    EXPECT_GT(steps, 2) << "700 descriptors take several 8 KiB pieces";
    EXPECT_EQ(counter.count(), *before + 700);
    EXPECT_FALSE(counter.active());
    extra.clear();
    EXPECT_EQ(open_fds().value(), *before);

    // The collector counts in pieces too: a small budget makes it take several loop turns.
    collector_options opts;
    opts.batch_budget = std::chrono::microseconds(1); // one piece per turn
    collector coll(io_, reg_, opts);                  // (its timer opens the loop's ring)
    auto baseline = open_fds();
    ASSERT_TRUE(baseline.has_value());
    for (int i = 0; i < 700; ++i) {
        extra.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    coll.refresh();
    io_.run();
    EXPECT_GT(coll.last_report().batches, 2u);
    EXPECT_EQ(coll.last_report().open_fds, *baseline + 700);
}

TEST_F(metrics_collector, absent_files_leave_their_series_out) {
    add("bare", "0", fake_cgroup::no_controllers());
    collector coll(io_, reg_);
    coll.refresh();
    io_.run();
    auto e = scrape();
    std::map<std::string, std::string> bare = {{"service", "bare"}, {"replica", "0"}};
    EXPECT_EQ(e.value("berth_container_cpu_usage_seconds_total", bare), 0.002);
    EXPECT_EQ(e.value("berth_container_cpu_user_seconds_total", bare), 0.0015);
    for (const char* family :
         {"berth_container_cpu_periods_total", "berth_container_cpu_throttled_periods_total",
          "berth_container_cpu_throttled_seconds_total", "berth_container_memory_usage_bytes",
          "berth_container_memory_peak_bytes", "berth_container_memory_events_total",
          "berth_container_pids", "berth_container_io_read_bytes_total",
          "berth_container_io_written_bytes_total"}) {
        EXPECT_FALSE(e.has_family(family)) << family << ": neither samples nor a header";
    }
    EXPECT_EQ(coll.last_report().errors, 0u) << "absent is not an error";
}

TEST_F(metrics_collector, a_missing_cgroup_directory_is_not_an_error) {
    reg_.container_added("gone", "0", (tmp_.path() / "no-such-dir").string());
    collector coll(io_, reg_);
    coll.refresh();
    io_.run();
    EXPECT_EQ(coll.last_report().containers, 1u);
    EXPECT_EQ(coll.last_report().errors, 0u);
    EXPECT_EQ(containers_read(), 0u);
}

TEST_F(metrics_collector, a_malformed_file_is_counted_and_the_rest_still_read) {
    fake_cgroup broken;
    broken.memory_current = "lots\n";
    add("odd", "0", broken);
    add("odd", "1");
    collector coll(io_, reg_);
    coll.refresh();
    io_.run();
    EXPECT_EQ(coll.last_report().errors, 1u);
    auto e = scrape();
    EXPECT_EQ(e.value("berth_metrics_read_errors_total"), 1.0);
    EXPECT_TRUE(e.find("berth_container_memory_usage_bytes", {{"replica", "0"}}).empty());
    EXPECT_EQ(e.value("berth_container_memory_usage_bytes", {{"replica", "1"}}), 1048576.0);
    EXPECT_EQ(e.value("berth_container_pids", {{"replica", "0"}}), 4.0);
}

TEST_F(metrics_collector, a_new_reading_replaces_the_previous_one) {
    auto dir = add("web", "0");
    collector coll(io_, reg_);
    coll.refresh();
    io_.run();
    fake_cgroup later;
    later.cpu_stat = "usage_usec 9000000\nuser_usec 1\nsystem_usec 2\n";
    later.pids_current.reset();
    later.write(dir);
    io_.restart();
    coll.refresh();
    io_.run();
    auto e = scrape();
    EXPECT_EQ(e.value("berth_container_cpu_usage_seconds_total"), 9.0);
    EXPECT_FALSE(e.has_family("berth_container_pids")) << "pids.current went away";
    EXPECT_FALSE(e.has_family("berth_container_cpu_throttled_periods_total"));
}

TEST_F(metrics_collector, containers_removed_or_added_during_a_cycle) {
    for (const char* r : {"a", "b", "c", "d", "e"}) {
        add("svc", r);
    }
    collector_options opts;
    opts.batch_size = 2;
    opts.batch_budget = 1h;
    collector coll(io_, reg_, opts);
    coll.refresh();
    ASSERT_EQ(io_.poll_one(), 1u); // read a, b; the cursor is on b
    reg_.container_removed("svc", "b");
    reg_.container_removed("svc", "c");
    add("svc", "aa"); // sorts before the cursor: next cycle
    add("svc", "cc"); // after it: this cycle
    io_.run();
    EXPECT_EQ(coll.last_report().containers, 5u); // a, b, then cc, d, e
    auto e = scrape();
    EXPECT_TRUE(e.find("berth_container_cpu_usage_seconds_total", {{"replica", "aa"}}).empty());
    EXPECT_EQ(e.find("berth_container_cpu_usage_seconds_total", {{"replica", "cc"}}).size(), 1u);
    EXPECT_TRUE(e.find("berth_container_cpu_usage_seconds_total", {{"replica", "b"}}).empty());
    EXPECT_TRUE(e.find("berth_container_cpu_usage_seconds_total", {{"replica", "c"}}).empty());
    EXPECT_EQ(containers_read(), 4u); // a, cc, d, e
}

TEST_F(metrics_collector, refresh_during_a_cycle_joins_it) {
    add("svc", "0");
    add("svc", "1");
    collector_options opts;
    opts.batch_size = 1;
    collector coll(io_, reg_, opts);
    int first = 0;
    int second = 0;
    coll.refresh([&] { ++first; });
    ASSERT_EQ(io_.poll_one(), 1u);
    coll.refresh([&] { ++second; });
    io_.run();
    EXPECT_EQ(first, 1);
    EXPECT_EQ(second, 1);
    EXPECT_EQ(coll.last_report().containers, 2u);
    EXPECT_EQ(scrape().value("berth_metrics_refreshes_total"), 1.0);
}

TEST_F(metrics_collector, start_repeats_cycles) {
    add("svc", "0");
    collector_options opts;
    opts.interval = 1ms;
    opts.idle_after = 0ms; // never pause
    collector coll(io_, reg_, opts);
    coll.start();
    std::size_t guard = 0;
    while (scrape().value("berth_metrics_refreshes_total").value_or(0) < 3 && guard++ < 100000) {
        io_.run_one();
    }
    EXPECT_GE(scrape().value("berth_metrics_refreshes_total").value_or(0), 3.0);
    EXPECT_FALSE(coll.paused());
    coll.stop();
    io_.run(); // the cancelled timer's handler; nothing else is left
    EXPECT_FALSE(coll.cycle_running());
}

TEST_F(metrics_collector, pauses_without_scrapes_and_resumes_at_the_next) {
    add("svc", "0");
    collector_options opts;
    opts.interval = 1ms;
    opts.idle_after = 1ms;
    collector coll(io_, reg_, opts);
    coll.start();
    // Cycles go on until one ends more than idle_after after the last scrape; then the loop
    // runs out of work: nothing is armed while paused.
    io_.run();
    EXPECT_TRUE(coll.paused());
    auto refreshes = scrape().value("berth_metrics_refreshes_total").value_or(0);
    EXPECT_GE(refreshes, 1.0);

    coll.scraped();
    EXPECT_FALSE(coll.paused());
    EXPECT_TRUE(coll.cycle_running());
    io_.restart();
    io_.run_one(); // the resumed cycle's batch
    EXPECT_GT(scrape().value("berth_metrics_refreshes_total").value_or(0), refreshes);
    coll.stop();
}

TEST_F(metrics_collector, stop_abandons_the_cycle_and_drops_its_callbacks) {
    for (int i = 0; i < 4; ++i) {
        add("svc", std::to_string(i));
    }
    collector_options opts;
    opts.batch_size = 1;
    collector coll(io_, reg_, opts);
    bool called = false;
    coll.refresh([&] { called = true; });
    ASSERT_EQ(io_.poll_one(), 1u);
    coll.stop();
    io_.run();
    EXPECT_FALSE(called);
    EXPECT_FALSE(coll.cycle_running());
    EXPECT_EQ(containers_read(), 1u);
}

TEST_F(metrics_collector, a_destroyed_collector_leaves_only_harmless_handlers) {
    add("svc", "0");
    add("svc", "1");
    {
        collector_options opts;
        opts.batch_size = 1;
        collector coll(io_, reg_, opts);
        coll.start();
    }
    EXPECT_GE(io_.run(), 1u); // the posted batch finds its collector gone and does nothing
    EXPECT_EQ(containers_read(), 0u);
}

} // namespace
} // namespace berth::metrics
