// Process creation for containers: clone3 into a cgroup, straight to exec, at a cost that does
// not grow with the supervisor's memory or its fd table.
#pragma once

#include "engine/result.hpp"
#include "engine/unique_fd.hpp"

#include <sys/types.h>

#include <array>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace berth {

struct spawn_request {
    std::string program;           // absolute path, exec'd as is (no PATH lookup)
    std::vector<std::string> argv; // argv[0] included
    std::vector<std::string> env;  // "KEY=value" words
    int cgroup_fd = -1;            // O_PATH directory of the leaf (CLONE_INTO_CGROUP), or -1
    bool new_pid_namespace = false;
    // The child's fds 0 to 4 (-1 gives /dev/null). Borrowed: the caller keeps them.
    int stdin_fd = -1;
    int stdout_fd = -1;
    int stderr_fd = -1;
    int fd3 = -1; // inherited by the program (the shim's status pipe, shim/protocol.h)
    int fd4 = -1; // inherited too (root_switch=template: the root template's namespace)
    // Spawn at SCHED_FIFO when the spawner hands off priority (see below). Only for programs
    // that return to SCHED_OTHER themselves: berth-shim with `sched=other`. A spawn without
    // it drops the supervisor's SCHED_FIFO first, so that its child never inherits it.
    bool hand_off_priority = false;
};

struct spawned_process {
    pid_t pid = -1;
    unique_fd pidfd;
};

// Creates processes with clone3(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD
// [| CLONE_INTO_CGROUP] [| CLONE_NEWPID]).
//
// CLONE_VM|CLONE_VFORK: no page tables are copied, so a start costs the same with a 10 MB or a
// 1 GB supervisor. CLONE_FILES: the fd table is not copied either; the child then unshares
// it with close_range(CLOSE_RANGE_UNSHARE) from a low bound, which copies only the few fds
// below it. To make that work, the fds the child needs are placed in reserved low slots just
// before the clone and reset to /dev/null right after. The spawner therefore must be created
// early, while the lowest fds are still free, and used from one thread.
class spawner {
public:
    static result<spawner> create() noexcept;

    // Starts the program; returns once the child has exec'd (or failed to). A failed exec of
    // `program` itself is reported on fd3 by the child as a berth_shim_failure record, like a
    // shim step, and the child exits 127.
    result<spawned_process> spawn(const spawn_request& req) noexcept;

    // The lowest fd number the child does not inherit; everything from here up is closed.
    int inherit_limit() const noexcept { return slots_.back().get() + 1; }

    // Priority hand-off (start_priority = "realtime"; docs/architecture.md, "Start
    // priority"). A spawn with hand_off_priority switches the supervisor to SCHED_FIFO 1 (if
    // it is not there already); the child inherits it, and berth-shim (sched=other) does its
    // whole setup at that priority, back to SCHED_OTHER right before the workload. Setups then
    // run to their end one after the other instead of being time-sliced against each other and
    // against the supervisor's loop (bench/fleet: 0.80-0.99x the time at 1,000 starts, 0.81x
    // at 5,000). The cost: until the burst is over, other processes get what real-time
    // throttling leaves them (5% of each CPU by default). `drop_soon` is called once per switch to
    // arrange a drop_priority() when the burst is over (the supervisor keeps a timer a while past
    // last_hand_off(), so that the burst's exec reports are read at the same priority).
    //
    // Turned on only if the process may use SCHED_FIFO (tried here, and undone): CAP_SYS_NICE
    // and, with RT group scheduling, a cgroup with real-time runtime; and only if it runs at
    // SCHED_OTHER or SCHED_BATCH now, the policy it returns to. False when it stays off.
    bool enable_priority_hand_off(std::function<void()> drop_soon) noexcept;
    bool hands_off_priority() const noexcept { return hand_off_; }
    bool priority_raised() const noexcept { return raised_; }
    std::chrono::steady_clock::time_point last_hand_off() const noexcept { return last_hand_off_; }
    // Back to the policy the hand-off found. Idempotent.
    void drop_priority() noexcept;

private:
    static constexpr int slot_count = 5; // the child's fds 0 to 4

    spawner(unique_fd null_fd, std::array<unique_fd, slot_count> slots) noexcept;

    void reset_slots() noexcept;
    void raise_priority() noexcept;

    unique_fd null_fd_;
    std::array<unique_fd, slot_count> slots_; // slots for the child's fds 0 to 4; ascending
    bool hand_off_ = false;
    bool raised_ = false;
    bool drop_after_spawn_ = false;
    int base_policy_ = 0; // SCHED_OTHER
    std::chrono::steady_clock::time_point last_hand_off_{};
    std::function<void()> drop_soon_;
};

} // namespace berth
