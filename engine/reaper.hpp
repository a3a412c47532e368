// Exit collection: every managed child is waited on through its pidfd in the loop; as PID 1
// (or a subreaper) the SIGCHLD path also reaps orphans without stealing a managed status.
#pragma once

#include "engine/unique_fd.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

namespace berth {

class exit_clock;

// How a process ended, decoded from waitid's siginfo.
struct exit_info {
    bool signaled = false; // killed by a signal (else: exited)
    int code = 0;          // exit code, or the signal number when signaled
    bool core_dumped = false;
    std::chrono::steady_clock::time_point reaped; // when berth collected the status
    // From fork to exit, by the kernel's exit record, when the reaper has an exit_clock and
    // the record came (exit_clock.hpp).
    std::optional<std::chrono::microseconds> lifetime;
};

exit_info decode_exit(const siginfo_t& info) noexcept;

class reaper {
public:
    using exit_handler = std::function<void(const exit_info&)>;

    explicit reaper(boost::asio::io_context& io) : io_(io) {}

    // Asks `clock` (which must outlive the reaper's use of it) for the lifetime of every
    // process watched from now on; nullptr stops that.
    void use_exit_clock(exit_clock* clock) noexcept { clock_ = clock; }

    // Takes the pidfd and calls on_exit once, on the loop, when the process has been reaped.
    // Returns false (and calls nothing) if the loop cannot watch the fd.
    bool watch(pid_t pid, unique_fd pidfd, exit_handler on_exit) noexcept;

    // Sends a signal through the watched process's pidfd (no pid reuse race). ESRCH when the
    // process is not watched (already reaped).
    int send_signal(pid_t pid, int signo) noexcept;

    // Keeps reaping the process when it exits, but calls nothing: for owners that go away
    // before their process does.
    void detach(pid_t pid) noexcept;

    // On SIGCHLD: collects every exited child. Managed ones are delivered to their handlers;
    // the rest are orphans (reparented to PID 1 or a subreaper) and only counted.
    void reap_children() noexcept;

    std::size_t watched() const noexcept { return entries_.size(); }
    std::uint64_t orphans_reaped() const noexcept { return orphans_reaped_; }

private:
    struct entry {
        boost::asio::posix::stream_descriptor pidfd;
        exit_handler on_exit;
    };

    void arm(pid_t pid, entry& e);
    void collect(pid_t pid) noexcept;
    void deliver(pid_t pid, const siginfo_t& info) noexcept;

    boost::asio::io_context& io_;
    exit_clock* clock_ = nullptr;
    std::unordered_map<pid_t, std::unique_ptr<entry>> entries_;
    std::uint64_t orphans_reaped_ = 0;
};

} // namespace berth
