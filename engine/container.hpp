// One container's process from spawn to reaped: the shim's setup report, its output into a
// rotated log file, and its exit, all as loop events.
#pragma once

#include "engine/log_file.hpp"
#include "engine/reaper.hpp"
#include "engine/result.hpp"
#include "engine/spawn.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace berth {

struct container_launch {
    std::string name;              // "web/2"
    std::string shim_path;         // berth-shim
    std::vector<std::string> argv; // shim argv (see shim_argv)
    std::vector<std::string> env;
    int cgroup_fd = -1;  // the leaf, O_PATH; borrowed for the clone
    int root_ns_fd = -1; // root_switch=template: the root template's namespace; borrowed too
    bool new_pid_namespace = true;
    std::filesystem::path log_path; // empty: output goes to /dev/null
    std::uint64_t log_max_size = 10 << 20;
    unsigned log_max_files = 3;
    // Spawned at SCHED_FIFO (spawn_request::hand_off_priority); argv must hold sched=other.
    bool hand_off_priority = false;
};

// How a run ended. A failed setup step (from the shim's status pipe) takes precedence over
// the exit code: "shim: pivot_root: Invalid argument" says more than "exited 127".
struct container_exit {
    exit_info process;
    std::optional<berth::error> setup_failure;
    bool oom_killed = false; // filled in by whoever owns the cgroup (memory.events)
    // From the process's exit to berth's waitid, when its lifetime is known (the reaper's
    // exit_clock): an upper bound, high by the few microseconds clone3 takes before the
    // kernel stamps the child's start.
    std::optional<std::chrono::steady_clock::duration> reap_latency;

    std::string describe() const;
};

class container {
public:
    struct callbacks {
        std::function<void()> on_running;                   // the workload was exec'd
        std::function<void(const container_exit&)> on_exit; // after the process is reaped
    };

    container(boost::asio::io_context& io, spawner& spawn, reaper& reap) noexcept;
    ~container();
    container(const container&) = delete;
    container& operator=(const container&) = delete;

    // Spawns the shim. On error nothing is left running and no callback will be called.
    status start(const container_launch& launch, callbacks cbs) noexcept;

    // Sends a signal to the main process through its pidfd (no pid reuse race).
    status signal(int signo) noexcept;

    pid_t pid() const noexcept { return pid_; }
    bool alive() const noexcept { return pid_ > 0; }
    std::chrono::steady_clock::time_point started_at() const noexcept { return started_; }

private:
    void read_status();
    void read_output();
    void finish(const exit_info& info) noexcept;

    boost::asio::io_context& io_;
    spawner& spawn_;
    reaper& reap_;
    std::string name_;
    pid_t pid_ = -1;
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point spawn_called_; // just before clone3
    std::optional<boost::asio::posix::stream_descriptor> status_;
    std::optional<boost::asio::posix::stream_descriptor> output_;
    std::optional<log_file> log_;
    std::optional<berth::error> setup_failure_;
    callbacks cbs_;
    // The current run's number, owned here alone. A completion can already be queued when
    // finish() or the destructor closes its descriptor, and then runs with success: handlers
    // hold a weak_ptr and the number, and do nothing once either no longer matches.
    std::shared_ptr<std::uint64_t> run_ = std::make_shared<std::uint64_t>(0);
};

} // namespace berth
