// The replica lifecycle: every state, event and transition of one replica, in this one place.
//
// States
//   waiting   wants to run; a dependency (after/requires) is not up yet
//   starting  the shim is setting up the container
//   running   the workload was exec'd; waiting for readiness (notify / exec probe)
//   ready     up; dependents may start ("started" means ready when readiness is set)
//   stopping  the stop signal was sent; waiting for the exit, then cgroup.kill at stop_timeout
//   backoff   exited and will be restarted when the restart delay has passed
//   exited    not running and not coming back by itself (stopped, or policy says no restart)
//   failed    not running: the start limit was hit, setup failed with no restart, or a
//             required dependency failed
//
// Events and what they interrupt
//   up          an operator, the fleet start or a reload wants the replica running
//   down        an operator, shutdown or a reload wants it stopped; interrupts everything
//   deps_up     every dependency is up          deps_down  one went away (requires only)
//   spawned / spawn_failed   the synchronous outcome of a spawn action
//   exec_ok     the shim exec'd the workload    ready_ok   READY=1 or a passing probe
//   ready_failed  the exec probe failed `retries` times in a row: the start failed
//   exited      the process was reaped (with how it ended)
//   timer       the replica's single timer fired (start_timeout, stop_timeout, backoff,
//               or the watchdog, by state)
//   watchdog    WATCHDOG=1 arrived: the watchdog timer starts over
//
// The transition function returns actions for the driver (supervisor/service.cpp) to carry
// out; it does no I/O itself, which is what lets it be tested with a fake clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace berth::lifecycle {

using clock = std::chrono::steady_clock;
using duration = std::chrono::milliseconds;

enum class state { waiting, starting, running, ready, stopping, backoff, exited, failed };
enum class restart_policy { always, on_failure, never };

std::string_view to_string(state s) noexcept;

// A duration as berth's messages spell it: "2s" when whole seconds, else "400ms".
std::string seconds_text(duration d);

struct policy {
    restart_policy restart = restart_policy::on_failure;
    duration restart_delay{100};
    duration restart_delay_max{30'000};
    duration reset_after{10'000};   // up this long: the backoff starts again from restart_delay
    unsigned start_limit_burst = 5; // more restarts than this within the interval: failed
    duration start_limit_interval{10'000};
    std::optional<duration> start_timeout; // until ready (or running without readiness)
    duration stop_timeout{5'000};
    std::optional<duration> watchdog_timeout; // only with readiness = notify
    bool needs_readiness = false;             // readiness is notify or an exec probe
    int stop_signal = 15;
};

struct exit_report {
    bool clean = false; // exited 0 (a "success" for on-failure)
    std::string description;
};

enum class event_kind {
    up,
    down,
    deps_up,
    deps_down,
    spawned,
    spawn_failed,
    exec_ok,
    ready_ok,
    ready_failed,
    exited,
    timer,
    watchdog
};

struct event {
    event_kind kind;
    exit_report exit{};   // for exited
    std::string reason{}; // for spawn_failed, ready_failed and deps_down
};

enum class action_kind {
    spawn,     // start the container
    signal,    // send `signal` to the main process
    kill_all,  // cgroup.kill: everything in the replica's cgroup
    arm_timer, // (re)arm the replica's timer for `delay`
    cancel_timer,
};

struct action {
    action_kind kind;
    duration delay{0};
    int signal = 0;
};

// The mutable part of a replica as the lifecycle sees it.
struct replica_status {
    state current = state::exited;
    bool wanted = false; // an "up" is in force (cleared by "down")
    bool deps_ok = true; // dependencies are up
    unsigned consecutive_failures = 0;
    std::uint64_t restarts = 0;
    std::deque<clock::time_point> recent_starts; // within start_limit_interval
    std::optional<clock::time_point> up_since;   // exec_ok time of the current run
    std::string last_exit;                       // "exited 1", "killed by SIGKILL after OOM kill"
    std::string failure;                         // why the replica is failed, when it is
    bool killed_at_timeout = false;              // this stop needed cgroup.kill
    std::string pending_failure; // a stop forced by a timeout: counts as a failure at exit
};

// The one transition function. `rng` provides the backoff jitter.
std::vector<action> step(const policy& p, replica_status& st, const event& ev,
                         clock::time_point now, std::mt19937& rng);

// The restart delay after `failures` consecutive failures (1 = the first), with jitter:
// restart_delay * 2^(failures-1), times a factor in [0.8, 1.2], capped at restart_delay_max.
duration backoff_delay(const policy& p, unsigned failures, std::mt19937& rng);

// A seed for the jitter generator that never waits for the kernel's entropy pool. As PID 1 early
// in boot the pool may not be initialised yet, and std::random_device (getentropy, on a CPU
// without RDRAND) blocks until it is: a second on a TCG guest, longer on a quiet device.
// Jitter needs no secrecy (docs/architecture.md, "Decisions").
std::uint32_t jitter_seed();

} // namespace berth::lifecycle
