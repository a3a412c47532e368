// An exec readiness probe (readiness = { exec = [...] }, docs/config.md): the probe command runs
// inside a replica's running container, through `berth-shim join=`, until one run exits 0.
#pragma once

#include "engine/container.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace berth {

class exec_probe {
public:
    struct settings {
        std::string name; // "web/2", for messages
        std::string shim_path;
        std::vector<std::string> argv; // the shim's argv, with join= and the probe command
        std::vector<std::string> env;
        std::string cgroup_path; // the replica's leaf: a run is charged to the container
        std::chrono::milliseconds interval{1000};
        std::chrono::milliseconds timeout{1000};
        std::uint32_t retries = 3;
    };
    // passed: a run exited 0. Otherwise `retries` runs in a row failed, and `why` says so, with
    // the last run's outcome ("exited 1", "timed out after 1s", "shim: join: setns: ...").
    using verdict_handler = std::function<void(bool passed, const std::string& why)>;

    exec_probe(boost::asio::io_context& io, spawner& spawn, reaper& reap) noexcept;
    ~exec_probe();
    exec_probe(const exec_probe&) = delete;
    exec_probe& operator=(const exec_probe&) = delete;

    // Starts probing: the first run one `interval` from now, each run killed (SIGKILL to the
    // shim, which takes the command with it) after `timeout`, the next one `interval` after
    // a failed run ended. on_verdict is called once, on the loop; then probing stops.
    void start(settings s, verdict_handler on_verdict) noexcept;
    // Stops probing: no verdict comes, and a run in progress is killed. Safe from a verdict.
    void stop() noexcept;
    bool active() const noexcept { return token_ != nullptr; }
    std::uint64_t runs() const noexcept { return runs_; }

private:
    void schedule() noexcept;
    void launch() noexcept;
    void finished(const container_exit& exit) noexcept;
    void failed_run(const std::string& outcome) noexcept;
    void verdict(bool passed, const std::string& why) noexcept;

    boost::asio::io_context& io_;
    spawner& spawn_;
    reaper& reap_;
    settings settings_;
    verdict_handler on_verdict_;
    boost::asio::steady_timer timer_; // the next run, or the running one's timeout
    std::unique_ptr<container> run_;
    std::shared_ptr<char> token_; // weakly held by queued handlers; null when not probing
    std::uint32_t failures_ = 0;  // in a row
    bool timed_out_ = false;
    std::uint64_t runs_ = 0;
};

} // namespace berth
