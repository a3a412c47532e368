// The collector: refreshes every container's cgroup statistics on the loop, a bounded batch
// per loop turn, so that no scrape and no single turn reads thousands of cgroups.
//
// A refresh cycle walks the registry's containers in (service, replica) order, then counts the
// process's open descriptors. Each batch reads at most batch_size containers (six small
// cgroupfs reads each), or pieces of /proc/self/fd, and stops early once it has held the loop
// for batch_budget; the next batch is posted to the io_context, so every completion that
// became ready meanwhile (exits, sockets, timers) runs between two batches.
// A reading replaces the container's snapshot at once; a scrape serializes whatever the
// snapshot holds, never waiting for a cycle.
//
// Cycles repeat `interval` after the previous one ended. There is no event that says "a
// counter moved", so this is the one periodic poll in berth, and it pauses when nobody reads
// the result: after idle_after without a scrape (scraped()), until the next scrape.
//
// Containers added during a cycle are read in it if they sort after its position, otherwise
// in the next; removed ones are skipped. Everything runs on the io_context's thread.
#pragma once

#include "metrics/process_stats.hpp"
#include "metrics/registry.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace berth::metrics {

struct collector_options {
    std::size_t batch_size = 64;                 // containers per loop turn, at most (>= 1)
    std::chrono::microseconds batch_budget{500}; // a batch ends once it has run this long
    std::chrono::milliseconds interval{10000};   // from a cycle's end to the next one's start
    std::chrono::milliseconds idle_after{std::chrono::minutes(5)}; // 0: never pause
};

class collector {
public:
    // `reg` must outlive the collector; the collector must not outlive `io`.
    collector(boost::asio::io_context& io, registry& reg, collector_options opts = {});
    ~collector();
    collector(const collector&) = delete;
    collector& operator=(const collector&) = delete;

    // Starts the periodic cycles with one right away (its first batch is posted, not run
    // inside this call).
    void start() noexcept;

    // Stops the periodic cycles and abandons a cycle in progress; its waiting `done`
    // callbacks are dropped, not called. The snapshot stays as it is.
    void stop() noexcept;

    // Runs a cycle now, or joins the one in progress, and calls `done` on the loop when it
    // ends. Needs no start(): without it, this cycle is the only one.
    void refresh(std::function<void()> done = {}) noexcept;

    // A scrape read the snapshot: resumes paused cycles (with one right away).
    void scraped() noexcept;

    // The io_context the cycles run on (the endpoint builds its scrapes there too).
    boost::asio::io_context& io() const noexcept { return io_; }

    bool cycle_running() const noexcept { return running_; }
    bool paused() const noexcept { return paused_; }
    // The latest complete cycle (all zero before the first).
    const refresh_report& last_report() const noexcept { return last_; }

private:
    using clock = std::chrono::steady_clock;

    void begin_cycle() noexcept;
    void post_batch() noexcept;
    void run_batch() noexcept;
    bool read_containers(clock::time_point begin) noexcept; // true: every container was read
    bool count_fds(clock::time_point begin) noexcept;       // true: the count is complete
    void finish_cycle() noexcept;
    void schedule_next() noexcept;

    boost::asio::io_context& io_;
    registry& reg_;
    collector_options opts_;
    boost::asio::steady_timer timer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true); // posted work checks it
    bool periodic_ = false;
    bool paused_ = false;
    bool running_ = false;
    std::uint64_t cycle_ = 0; // tells a posted batch whether its cycle is still current
    container_table::cursor cursor_;
    bool containers_done_ = false; // this cycle is past its containers, counting descriptors
    fd_counter fds_;
    bool fd_error_logged_ = false;
    clock::time_point cycle_start_;
    clock::time_point last_scrape_;
    refresh_report current_;
    refresh_report last_;
    std::vector<std::function<void()>> waiting_;
};

} // namespace berth::metrics
