// The replica lifecycle's transition function (the states and events are listed in the header).
#include "supervisor/lifecycle.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace berth::lifecycle {

std::string seconds_text(duration d) {
    auto ms = d.count();
    if (ms % 1000 == 0) {
        return std::to_string(ms / 1000) + "s";
    }
    return std::to_string(ms) + "ms";
}

namespace {

// One transition in the making: the actions it emits and the state it ends in.
class transition {
public:
    transition(const policy& p, replica_status& st, clock::time_point now, std::mt19937& rng)
        : p_(p), st_(st), now_(now), rng_(rng) {}

    std::vector<action> take() { return std::move(out_); }

    void emit(action_kind kind, duration delay = duration{0}, int signal = 0) {
        out_.push_back(action{kind, delay, signal});
    }

    void begin_start() {
        if (!st_.deps_ok) {
            st_.current = state::waiting;
            return;
        }
        st_.recent_starts.push_back(now_);
        st_.current = state::starting;
        st_.up_since.reset();
        st_.killed_at_timeout = false;
        st_.pending_failure.clear();
        st_.failure.clear();
        emit(action_kind::spawn);
        if (p_.start_timeout) {
            emit(action_kind::arm_timer, *p_.start_timeout);
        } else {
            emit(action_kind::cancel_timer);
        }
    }

    void begin_stop() {
        st_.current = state::stopping;
        emit(action_kind::signal, duration{0}, p_.stop_signal);
        emit(action_kind::arm_timer, p_.stop_timeout);
    }

    void became_up() {
        st_.up_since = now_;
        if (p_.needs_readiness) {
            st_.current = state::running;
            return;
        }
        became_ready();
    }

    void became_ready() {
        st_.current = state::ready;
        if (p_.watchdog_timeout) {
            emit(action_kind::arm_timer, *p_.watchdog_timeout);
        } else {
            emit(action_kind::cancel_timer);
        }
    }

    void after_exit(bool clean, const std::string& description) {
        emit(action_kind::cancel_timer);
        st_.last_exit = description;
        if (st_.up_since && now_ - *st_.up_since >= p_.reset_after) {
            st_.consecutive_failures = 0;
        }
        st_.up_since.reset();
        bool restart = st_.wanted && (p_.restart == restart_policy::always ||
                                      (p_.restart == restart_policy::on_failure && !clean));
        if (!restart) {
            st_.current = clean ? state::exited : state::failed;
            st_.failure = clean ? "" : description;
            return;
        }
        while (!st_.recent_starts.empty() &&
               now_ - st_.recent_starts.front() > p_.start_limit_interval) {
            st_.recent_starts.pop_front();
        }
        if (st_.recent_starts.size() >= p_.start_limit_burst) {
            st_.current = state::failed;
            st_.failure = "start limit hit: " + std::to_string(st_.recent_starts.size()) +
                          " starts within " + seconds_text(p_.start_limit_interval) +
                          "; last: " + description;
            return;
        }
        ++st_.consecutive_failures;
        ++st_.restarts;
        st_.current = state::backoff;
        emit(action_kind::arm_timer, backoff_delay(p_, st_.consecutive_failures, rng_));
    }

    void exited_while_stopping(const exit_report& exit) {
        std::string description = exit.description;
        if (st_.killed_at_timeout) {
            description +=
                " (killed by cgroup.kill at stop_timeout " + seconds_text(p_.stop_timeout) + ")";
        }
        if (!st_.pending_failure.empty()) {
            after_exit(false, st_.pending_failure + "; " + description);
            return;
        }
        emit(action_kind::cancel_timer);
        st_.last_exit = description;
        st_.up_since.reset();
        if (st_.wanted) {
            begin_start();
        } else {
            st_.current = state::exited;
        }
    }

    // The run cannot become ready: it is stopped, and its exit counts as a failed start.
    void start_failed(const std::string& reason) {
        st_.pending_failure = reason;
        begin_stop();
    }

    void timer_fired() {
        switch (st_.current) {
        case state::starting:
        case state::running:
            start_failed("not ready within start_timeout " +
                         seconds_text(p_.start_timeout.value_or(duration{0})));
            break;
        case state::ready:
            st_.pending_failure =
                "watchdog timeout " + seconds_text(p_.watchdog_timeout.value_or(duration{0}));
            begin_stop();
            break;
        case state::stopping:
            st_.killed_at_timeout = true;
            emit(action_kind::kill_all);
            break;
        case state::backoff:
            begin_start();
            break;
        case state::waiting:
        case state::exited:
        case state::failed:
            break; // a stale timer
        }
    }

    void up() {
        st_.wanted = true;
        switch (st_.current) {
        case state::exited:
        case state::failed:
            st_.recent_starts.clear(); // an operator's start is a fresh start
            st_.consecutive_failures = 0;
            begin_start();
            break;
        case state::waiting:
        case state::starting:
        case state::running:
        case state::ready:
        case state::stopping:
        case state::backoff:
            break; // already on its way up (stopping: it restarts at exit)
        }
    }

    void down() {
        st_.wanted = false;
        st_.pending_failure.clear();
        switch (st_.current) {
        case state::starting:
        case state::running:
        case state::ready:
            begin_stop();
            break;
        case state::waiting:
        case state::backoff:
            emit(action_kind::cancel_timer);
            st_.current = state::exited;
            break;
        case state::stopping:
        case state::exited:
        case state::failed:
            break;
        }
    }

    void deps_changed(bool ok, const std::string& reason) {
        st_.deps_ok = ok;
        if (ok) {
            if (st_.current == state::waiting && st_.wanted) {
                begin_start();
            }
            return;
        }
        switch (st_.current) {
        case state::starting:
        case state::running:
        case state::ready:
            st_.last_exit = "stopping: " + reason;
            begin_stop();
            break;
        case state::backoff:
            emit(action_kind::cancel_timer);
            st_.current = state::waiting;
            break;
        case state::waiting:
        case state::stopping:
        case state::exited:
        case state::failed:
            break;
        }
    }

private:
    const policy& p_;
    replica_status& st_;
    clock::time_point now_;
    std::mt19937& rng_;
    std::vector<action> out_;
};

} // namespace

std::string_view to_string(state s) noexcept {
    switch (s) {
    case state::waiting:
        return "waiting";
    case state::starting:
        return "starting";
    case state::running:
        return "running";
    case state::ready:
        return "ready";
    case state::stopping:
        return "stopping";
    case state::backoff:
        return "backoff";
    case state::exited:
        return "exited";
    case state::failed:
        return "failed";
    }
    return "unknown";
}

duration backoff_delay(const policy& p, unsigned failures, std::mt19937& rng) {
    double base = static_cast<double>(p.restart_delay.count());
    double cap = static_cast<double>(p.restart_delay_max.count());
    double d = base;
    for (unsigned i = 1; i < failures && d < cap; ++i) {
        d *= 2;
    }
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    d = std::min(d * jitter(rng), cap);
    return duration{static_cast<duration::rep>(d)};
}

std::uint32_t jitter_seed() {
    std::uint32_t seed = 0;
    // GRND_INSECURE (Linux 5.6+) never blocks, even before the pool is initialised; an older
    // kernel refuses it with EINVAL, and GRND_NONBLOCK then fails with EAGAIN instead of waiting.
    ssize_t n = getrandom(&seed, sizeof seed, GRND_INSECURE);
    if (n == -1 && errno == EINVAL) {
        n = getrandom(&seed, sizeof seed, GRND_NONBLOCK);
    }
    if (n != static_cast<ssize_t>(sizeof seed)) {
        // No entropy yet: the clock and the pid still spread restarts of replicas in different
        // berths apart, which is all the jitter is for.
        auto t = static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
        seed = static_cast<std::uint32_t>(t ^ (t >> 32)) ^ static_cast<std::uint32_t>(getpid());
    }
    return seed;
}

std::vector<action> step(const policy& p, replica_status& st, const event& ev,
                         clock::time_point now, std::mt19937& rng) {
    transition t(p, st, now, rng);
    switch (ev.kind) {
    case event_kind::up:
        t.up();
        break;
    case event_kind::down:
        t.down();
        break;
    case event_kind::deps_up:
        t.deps_changed(true, ev.reason);
        break;
    case event_kind::deps_down:
        t.deps_changed(false, ev.reason);
        break;
    case event_kind::spawned:
        break; // still starting: the shim reports exec_ok or its failure
    case event_kind::spawn_failed:
        if (st.current == state::starting) {
            t.after_exit(false, ev.reason);
        }
        break;
    case event_kind::exec_ok:
        if (st.current == state::starting) {
            t.became_up();
        }
        break;
    case event_kind::ready_ok:
        if (st.current == state::starting) {
            t.became_up();
        }
        if (st.current == state::running) {
            t.became_ready();
        }
        break;
    case event_kind::ready_failed:
        if (st.current == state::running) { // else stale: the run it judged is over
            t.start_failed(ev.reason);
        }
        break;
    case event_kind::exited:
        if (st.current == state::stopping) {
            t.exited_while_stopping(ev.exit);
        } else if (st.current == state::starting || st.current == state::running ||
                   st.current == state::ready) {
            t.after_exit(ev.exit.clean, ev.exit.description);
        }
        break;
    case event_kind::timer:
        t.timer_fired();
        break;
    case event_kind::watchdog:
        if (st.current == state::ready && p.watchdog_timeout) {
            t.emit(action_kind::arm_timer, *p.watchdog_timeout);
        }
        break;
    }
    return t.take();
}

} // namespace berth::lifecycle
