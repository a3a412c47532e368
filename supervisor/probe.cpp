// The exec readiness probe's schedule: run, time out, count failures in a row, give a verdict.
#include "supervisor/probe.hpp"

#include "engine/cgroup.hpp"
#include "engine/log.hpp"
#include "supervisor/lifecycle.hpp"

#include <csignal>

namespace berth {

exec_probe::exec_probe(boost::asio::io_context& io, spawner& spawn, reaper& reap) noexcept
    : io_(io), spawn_(spawn), reap_(reap), timer_(io) {}

exec_probe::~exec_probe() {
    stop();
}

void exec_probe::start(settings s, verdict_handler on_verdict) noexcept {
    stop();
    settings_ = std::move(s);
    on_verdict_ = std::move(on_verdict);
    token_ = std::make_shared<char>();
    failures_ = 0;
    schedule();
}

void exec_probe::stop() noexcept {
    token_.reset();
    timer_.cancel();
    // A run in progress: its destructor kills and detaches the shim. Never from inside the
    // run's own exit handler (stop() may be reached from there through the verdict): by then
    // the run is no longer alive, and it is kept for the next round.
    if (run_ && run_->alive()) {
        run_.reset();
    }
}

void exec_probe::schedule() noexcept {
    timer_.expires_after(settings_.interval);
    timer_.async_wait([this, token = std::weak_ptr<char>(token_)](boost::system::error_code ec) {
        // An expiry already queued when probing stopped runs with success.
        if (!ec && !token.expired()) {
            launch();
        }
    });
}

void exec_probe::launch() noexcept {
    try {
        auto leaf = cgroup::open_dir(settings_.cgroup_path);
        if (!leaf) {
            failed_run(leaf.error().message());
            return;
        }
        container_launch l;
        l.name = settings_.name + " probe";
        l.shim_path = settings_.shim_path;
        l.argv = settings_.argv;
        l.env = settings_.env;
        l.cgroup_fd = leaf->get();
        l.new_pid_namespace = false; // the shim enters the container's own (join=)
        if (!run_) {
            run_ = std::make_unique<container>(io_, spawn_, reap_);
        }
        container::callbacks cbs;
        cbs.on_exit = [this, token = std::weak_ptr<char>(token_)](const container_exit& e) {
            if (!token.expired()) {
                finished(e);
            }
        };
        timed_out_ = false;
        ++runs_;
        if (auto st = run_->start(l, std::move(cbs)); !st) {
            failed_run(st.error().message());
            return;
        }
        timer_.expires_after(settings_.timeout);
        timer_.async_wait(
            [this, token = std::weak_ptr<char>(token_)](boost::system::error_code ec) {
                if (ec || token.expired() || !run_ || !run_->alive()) {
                    return;
                }
                timed_out_ = true;
                (void)run_->signal(SIGKILL);
            });
    } catch (const std::exception& e) {
        failed_run(e.what());
    }
}

void exec_probe::finished(const container_exit& exit) noexcept {
    timer_.cancel();
    bool passed = !exit.setup_failure && !exit.process.signaled && exit.process.code == 0;
    if (passed && !timed_out_) {
        verdict(true, "");
        return;
    }
    failed_run(timed_out_ ? "timed out after " + lifecycle::seconds_text(settings_.timeout)
                          : exit.describe());
}

void exec_probe::failed_run(const std::string& outcome) noexcept {
    ++failures_;
    log::get("supervisor")
        ->debug("service {}: readiness probe failed ({} of {}): {}", settings_.name, failures_,
                settings_.retries, outcome);
    if (failures_ >= settings_.retries) {
        verdict(false, "readiness probe failed " + std::to_string(failures_) +
                           (failures_ == 1 ? " time" : " times in a row") + "; last: " + outcome);
        return;
    }
    schedule();
}

void exec_probe::verdict(bool passed, const std::string& why) noexcept {
    auto handler = std::move(on_verdict_);
    token_.reset(); // probing is over: no handler of this round runs any more
    try {
        if (handler) {
            handler(passed, why);
        }
    } catch (const std::exception& e) {
        log::get("supervisor")->error("service {}: probe verdict: {}", settings_.name, e.what());
    }
}

} // namespace berth
