// When a watched process exited, from the kernel's own exit records: the taskstats interface
// (generic netlink family "TASKSTATS"), listening on every CPU. The kernel writes a record as
// each task exits, before its parent is told, and the record's ac_etime is the task's
// lifetime from fork to exit in microseconds, measured on CLOCK_MONOTONIC. The reaper takes
// the lifetime of a process it collects, and its owner, who knows when it forked the process,
// gets the exit's time: the start of the exit-to-reaped latency (docs/metrics.md).
//
// The listener hears every task exit of the machine (the kernel has no filter by pid), so it
// keeps only the records of pids it was told to expect and drains the socket on the loop
// whenever it is readable. Registering needs CAP_NET_ADMIN; pids are those of the initial pid
// namespace. A record the kernel drops (socket buffer full) only means no lifetime for that
// process.
#pragma once

#include "engine/result.hpp"
#include "engine/unique_fd.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace berth {

class exit_clock {
public:
    // Resolves the family, registers a listener for every possible CPU and starts draining on
    // the loop. Errors name the step: "taskstats: register the CPU listener: Operation not
    // permitted".
    static result<std::unique_ptr<exit_clock>> open(boost::asio::io_context& io);

    ~exit_clock();
    exit_clock(const exit_clock&) = delete;
    exit_clock& operator=(const exit_clock&) = delete;

    // Keep pid's exit record when it comes (call before the process can exit unnoticed: at
    // spawn, before the pidfd is watched).
    void expect(pid_t pid);
    // Reads what the kernel has queued, then returns pid's lifetime (fork to exit) and forgets
    // pid; nullopt when no record came (dropped, or pid was not expected).
    std::optional<std::chrono::microseconds> take(pid_t pid);
    void forget(pid_t pid) noexcept;

    std::uint64_t records() const noexcept { return records_; }   // every exit record read
    std::uint64_t overruns() const noexcept { return overruns_; } // ENOBUFS: records lost

    // Calls seen(pid, lifetime) for each per-task exit record (TASKSTATS_TYPE_AGGR_PID) in a
    // buffer of netlink messages of `family` (0: any family). Malformed messages and attributes
    // are skipped, never read past. Exposed for tests.
    static void parse(std::string_view buffer, std::uint16_t family,
                      const std::function<void(pid_t, std::chrono::microseconds)>& seen);

private:
    exit_clock(boost::asio::io_context& io, unique_fd socket, std::uint16_t family);
    void arm();
    void drain() noexcept;
    void record(pid_t pid, std::chrono::microseconds lifetime) noexcept;

    boost::asio::posix::stream_descriptor socket_;
    std::uint16_t family_;
    // expected pid -> its lifetime once the record came
    std::unordered_map<pid_t, std::optional<std::chrono::microseconds>> expected_;
    std::uint64_t records_ = 0;
    std::uint64_t overruns_ = 0;
};

} // namespace berth
