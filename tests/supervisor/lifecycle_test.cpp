// The replica lifecycle, driven event by event with a fake clock.
#include "supervisor/lifecycle.hpp"

#include <gtest/gtest.h>

#include <set>

namespace lc = berth::lifecycle;
using namespace std::chrono_literals;

namespace {

class lifecycle_test : public ::testing::Test {
protected:
    lc::policy p;
    lc::replica_status st;
    lc::clock::time_point now{};
    std::mt19937 rng{42};

    std::vector<lc::action> send(lc::event_kind kind, bool clean = false,
                                 std::string text = "exited 1") {
        lc::event ev{kind, lc::exit_report{clean, text}, text};
        return lc::step(p, st, ev, now, rng);
    }

    static bool has(const std::vector<lc::action>& acts, lc::action_kind kind) {
        for (const auto& a : acts) {
            if (a.kind == kind) {
                return true;
            }
        }
        return false;
    }

    static lc::duration timer_of(const std::vector<lc::action>& acts) {
        for (const auto& a : acts) {
            if (a.kind == lc::action_kind::arm_timer) {
                return a.delay;
            }
        }
        ADD_FAILURE() << "no arm_timer action";
        return lc::duration{-1};
    }

    void bring_up() {
        auto acts = send(lc::event_kind::up);
        ASSERT_TRUE(has(acts, lc::action_kind::spawn));
        send(lc::event_kind::exec_ok);
    }
};

TEST_F(lifecycle_test, up_spawns_and_exec_means_ready_without_readiness) {
    auto acts = send(lc::event_kind::up);
    EXPECT_EQ(st.current, lc::state::starting);
    EXPECT_TRUE(has(acts, lc::action_kind::spawn));
    send(lc::event_kind::exec_ok);
    EXPECT_EQ(st.current, lc::state::ready);
}

TEST_F(lifecycle_test, readiness_keeps_running_until_ready) {
    p.needs_readiness = true;
    send(lc::event_kind::up);
    send(lc::event_kind::exec_ok);
    EXPECT_EQ(st.current, lc::state::running);
    send(lc::event_kind::ready_ok);
    EXPECT_EQ(st.current, lc::state::ready);
}

TEST_F(lifecycle_test, on_failure_backoff_doubles_with_bounded_jitter_up_to_max) {
    p.restart_delay = 100ms;
    p.restart_delay_max = 1000ms;
    p.start_limit_burst = 100;
    bring_up();
    const long expected[] = {100, 200, 400, 800, 1000, 1000};
    for (long base : expected) {
        auto acts = send(lc::event_kind::exited, false, "exited 3");
        ASSERT_EQ(st.current, lc::state::backoff);
        auto d = timer_of(acts).count();
        EXPECT_GE(d, base * 8 / 10) << "base " << base;
        EXPECT_LE(d, std::min(base * 12 / 10, 1000L)) << "base " << base;
        now += timer_of(acts);
        acts = send(lc::event_kind::timer);
        ASSERT_EQ(st.current, lc::state::starting);
        EXPECT_TRUE(has(acts, lc::action_kind::spawn));
        send(lc::event_kind::exec_ok);
    }
    EXPECT_EQ(st.restarts, 6u);
    EXPECT_EQ(st.last_exit, "exited 3");
}

TEST_F(lifecycle_test, staying_up_resets_the_backoff) {
    p.start_limit_burst = 100;
    bring_up();
    send(lc::event_kind::exited);
    now += 1s;
    send(lc::event_kind::timer);
    send(lc::event_kind::exec_ok);
    send(lc::event_kind::exited);
    EXPECT_EQ(st.consecutive_failures, 2u);
    now += 1s;
    send(lc::event_kind::timer);
    send(lc::event_kind::exec_ok);
    now += p.reset_after;
    auto acts = send(lc::event_kind::exited);
    EXPECT_EQ(st.consecutive_failures, 1u);
    EXPECT_LE(timer_of(acts), p.restart_delay * 12 / 10);
}

TEST_F(lifecycle_test, on_failure_does_not_restart_a_clean_exit) {
    bring_up();
    auto acts = send(lc::event_kind::exited, true, "exited 0");
    EXPECT_EQ(st.current, lc::state::exited);
    EXPECT_FALSE(has(acts, lc::action_kind::arm_timer));
}

TEST_F(lifecycle_test, never_leaves_a_failure_failed) {
    p.restart = lc::restart_policy::never;
    bring_up();
    send(lc::event_kind::exited, false, "killed by SIGSEGV");
    EXPECT_EQ(st.current, lc::state::failed);
    EXPECT_EQ(st.failure, "killed by SIGSEGV");
}

TEST_F(lifecycle_test, always_restarts_a_clean_exit) {
    p.restart = lc::restart_policy::always;
    bring_up();
    send(lc::event_kind::exited, true, "exited 0");
    EXPECT_EQ(st.current, lc::state::backoff);
}

TEST_F(lifecycle_test, start_limit_turns_a_crash_loop_into_failed) {
    p.start_limit_burst = 3;
    p.start_limit_interval = 10s;
    bring_up(); // start 1
    for (int i = 0; i < 2; ++i) {
        send(lc::event_kind::exited);
        now += 100ms;
        send(lc::event_kind::timer);
        send(lc::event_kind::exec_ok);
    }
    auto acts = send(lc::event_kind::exited, false, "exited 2");
    EXPECT_EQ(st.current, lc::state::failed);
    EXPECT_EQ(st.failure, "start limit hit: 3 starts within 10s; last: exited 2");
    EXPECT_FALSE(has(acts, lc::action_kind::spawn));
    // An operator's start clears the limit.
    acts = send(lc::event_kind::up);
    EXPECT_EQ(st.current, lc::state::starting);
    EXPECT_TRUE(has(acts, lc::action_kind::spawn));
}

TEST_F(lifecycle_test, starts_spread_over_time_stay_under_the_limit) {
    p.start_limit_burst = 2;
    p.start_limit_interval = 1s;
    bring_up();
    for (int i = 0; i < 5; ++i) {
        now += 2s;
        send(lc::event_kind::exited);
        ASSERT_EQ(st.current, lc::state::backoff) << "round " << i;
        send(lc::event_kind::timer);
        send(lc::event_kind::exec_ok);
    }
}

TEST_F(lifecycle_test, stop_signals_then_kills_at_timeout_and_says_so) {
    p.stop_timeout = 5s;
    p.stop_signal = 15;
    bring_up();
    auto acts = send(lc::event_kind::down);
    EXPECT_EQ(st.current, lc::state::stopping);
    ASSERT_TRUE(has(acts, lc::action_kind::signal));
    EXPECT_EQ(acts[0].signal, 15);
    EXPECT_EQ(timer_of(acts), 5s);
    acts = send(lc::event_kind::timer);
    EXPECT_TRUE(has(acts, lc::action_kind::kill_all));
    send(lc::event_kind::exited, false, "killed by SIGKILL");
    EXPECT_EQ(st.current, lc::state::exited);
    EXPECT_EQ(st.last_exit, "killed by SIGKILL (killed by cgroup.kill at stop_timeout 5s)");
}

TEST_F(lifecycle_test, down_during_backoff_cancels_the_restart) {
    bring_up();
    send(lc::event_kind::exited);
    auto acts = send(lc::event_kind::down);
    EXPECT_EQ(st.current, lc::state::exited);
    EXPECT_TRUE(has(acts, lc::action_kind::cancel_timer));
    acts = send(lc::event_kind::timer); // a stale timer does nothing
    EXPECT_EQ(st.current, lc::state::exited);
    EXPECT_TRUE(acts.empty());
}

TEST_F(lifecycle_test, restart_is_down_then_up_and_starts_again_at_exit) {
    bring_up();
    send(lc::event_kind::down);
    send(lc::event_kind::up);
    EXPECT_EQ(st.current, lc::state::stopping);
    auto acts = send(lc::event_kind::exited, false, "killed by SIGTERM");
    EXPECT_EQ(st.current, lc::state::starting);
    EXPECT_TRUE(has(acts, lc::action_kind::spawn));
}

TEST_F(lifecycle_test, waits_for_dependencies_and_follows_them) {
    st.deps_ok = false;
    auto acts = send(lc::event_kind::up);
    EXPECT_EQ(st.current, lc::state::waiting);
    EXPECT_FALSE(has(acts, lc::action_kind::spawn));
    acts = send(lc::event_kind::deps_up);
    EXPECT_TRUE(has(acts, lc::action_kind::spawn));
    send(lc::event_kind::exec_ok);
    acts = send(lc::event_kind::deps_down, false, "requirement db failed");
    EXPECT_EQ(st.current, lc::state::stopping);
    send(lc::event_kind::exited, false, "killed by SIGTERM");
    EXPECT_EQ(st.current, lc::state::waiting);
    acts = send(lc::event_kind::deps_up);
    EXPECT_EQ(st.current, lc::state::starting);
}

TEST_F(lifecycle_test, start_timeout_stops_and_counts_as_a_failure) {
    p.needs_readiness = true;
    p.start_timeout = 2s;
    auto acts = send(lc::event_kind::up);
    EXPECT_EQ(timer_of(acts), 2s);
    send(lc::event_kind::exec_ok);
    acts = send(lc::event_kind::timer);
    EXPECT_EQ(st.current, lc::state::stopping);
    send(lc::event_kind::exited, false, "killed by SIGTERM");
    EXPECT_EQ(st.current, lc::state::backoff);
    EXPECT_EQ(st.last_exit, "not ready within start_timeout 2s; killed by SIGTERM");
}

TEST_F(lifecycle_test, a_probe_that_gives_up_stops_the_run_as_a_failed_start) {
    p.needs_readiness = true;
    send(lc::event_kind::up);
    send(lc::event_kind::exec_ok);
    auto acts = send(lc::event_kind::ready_failed, false, "readiness probe failed 3 times");
    EXPECT_EQ(st.current, lc::state::stopping);
    EXPECT_TRUE(has(acts, lc::action_kind::signal));
    send(lc::event_kind::exited, false, "killed by SIGTERM");
    EXPECT_EQ(st.current, lc::state::backoff);
    EXPECT_EQ(st.last_exit, "readiness probe failed 3 times; killed by SIGTERM");
}

TEST_F(lifecycle_test, a_late_probe_verdict_changes_nothing) {
    p.needs_readiness = true;
    send(lc::event_kind::up);
    send(lc::event_kind::exec_ok);
    send(lc::event_kind::ready_ok);
    ASSERT_EQ(st.current, lc::state::ready);
    auto acts = send(lc::event_kind::ready_failed, false, "readiness probe failed 3 times");
    EXPECT_EQ(st.current, lc::state::ready);
    EXPECT_TRUE(acts.empty());
}

TEST_F(lifecycle_test, watchdog_restarts_a_hung_service) {
    p.needs_readiness = true;
    p.watchdog_timeout = 3s;
    send(lc::event_kind::up);
    send(lc::event_kind::exec_ok);
    auto acts = send(lc::event_kind::ready_ok);
    EXPECT_EQ(timer_of(acts), 3s);
    acts = send(lc::event_kind::watchdog);
    EXPECT_EQ(timer_of(acts), 3s);
    EXPECT_EQ(st.current, lc::state::ready);
    send(lc::event_kind::timer);
    EXPECT_EQ(st.current, lc::state::stopping);
    send(lc::event_kind::exited, false, "killed by SIGTERM");
    EXPECT_EQ(st.current, lc::state::backoff);
    EXPECT_EQ(st.last_exit, "watchdog timeout 3s; killed by SIGTERM");
}

TEST_F(lifecycle_test, setup_failure_is_a_failure_of_the_start) {
    p.restart = lc::restart_policy::never;
    send(lc::event_kind::up);
    send(lc::event_kind::spawn_failed, false, "container web/0: clone3: Invalid argument");
    EXPECT_EQ(st.current, lc::state::failed);
    EXPECT_EQ(st.failure, "container web/0: clone3: Invalid argument");
}

TEST(lifecycle_names, every_state_has_a_name) {
    for (auto s : {lc::state::waiting, lc::state::starting, lc::state::running, lc::state::ready,
                   lc::state::stopping, lc::state::backoff, lc::state::exited, lc::state::failed}) {
        EXPECT_NE(lc::to_string(s), "unknown");
    }
}

// The seed comes from the kernel (GRND_INSECURE), not from a constant or the clock alone: seeds
// drawn back to back differ (a repeat among eight draws has odds of about 1 in 600 million).
TEST(lifecycle_jitter, seeds_differ) {
    std::set<std::uint32_t> seeds;
    for (int i = 0; i < 8; ++i) {
        seeds.insert(lc::jitter_seed());
    }
    EXPECT_EQ(seeds.size(), 8u);
}

} // namespace
