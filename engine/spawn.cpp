// clone3 with CLONE_VM|CLONE_VFORK|CLONE_FILES into a cgroup, fds passed through low slots.
#include "engine/spawn.hpp"

#include "shim/protocol.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cstring>

extern "C" long berth_clone3(clone_args* args, size_t size, int (*fn)(void*), void* arg);

namespace berth {
namespace {

// What the child needs, prepared by the parent: the child shares the parent's memory and
// must do nothing but system calls (no allocation, no locks, no formatting).
struct child_context {
    const char* program;
    char* const* argv;
    char* const* envp;
    int slots[5];
    int limit;
    berth_shim_failure failure;
};

// The child's stack. One is enough: CLONE_VFORK keeps the parent (the only user) suspended
// until the child has exec'd or exited.
alignas(64) char child_stack[64 * 1024];

[[noreturn]] void child_fail(child_context* ctx, int err) noexcept {
    ctx->failure.error = err;
    // Through a byte copy: GCC 12 with -fsanitize takes &failure for its first member and
    // warns (stringop-overread) that write() reads past it.
    char record[sizeof(berth_shim_failure)];
    std::memcpy(record, &ctx->failure, sizeof record);
    ssize_t ignored = ::write(BERTH_SHIM_STATUS_FD, record, sizeof record);
    (void)ignored;
    ::_exit(BERTH_SHIM_EXIT_FAILED);
}

__attribute__((no_sanitize("address", "undefined"))) int child_main(void* arg) noexcept {
    auto* ctx = static_cast<child_context*>(arg);
    // A private fd table holding only the fds below the limit (the slots and 0..2).
    if (::syscall(SYS_close_range, ctx->limit, ~0U, CLOSE_RANGE_UNSHARE) != 0) {
        ::_exit(BERTH_SHIM_EXIT_FAILED);
    }
    // In ascending order: slot i is at least i + 3, so a dup3 onto fd i only ever replaces a
    // slot already placed. fds 3 and 4 survive this exec: the shim marks 3 close-on-exec
    // before it execs the workload, and closes 4 unless it needs it.
    for (int target = 0; target < 5; ++target) {
        if (ctx->slots[target] == target) {
            ::fcntl(target, F_SETFD, 0);
        } else if (::dup3(ctx->slots[target], target, 0) < 0) {
            ::_exit(BERTH_SHIM_EXIT_FAILED);
        }
    }
    if (ctx->limit > 5) {
        ::syscall(SYS_close_range, 5, ctx->limit - 1, 0);
    }
    // Its own session: a ^C on berth's terminal goes to berth, which stops the fleet in order,
    // not to every container at once.
    ::setsid();
    ::execve(ctx->program, ctx->argv, ctx->envp);
    child_fail(ctx, errno);
}

std::vector<char*> c_strings(const std::vector<std::string>& words) {
    std::vector<char*> out;
    out.reserve(words.size() + 1);
    for (const auto& w : words) {
        out.push_back(const_cast<char*>(w.c_str()));
    }
    out.push_back(nullptr);
    return out;
}

} // namespace

spawner::spawner(unique_fd null_fd, std::array<unique_fd, slot_count> slots) noexcept
    : null_fd_(std::move(null_fd)), slots_(std::move(slots)) {}

result<spawner> spawner::create() noexcept {
    unique_fd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null_fd) {
        return error::from_errno("spawner: open '/dev/null'");
    }
    // fds 0..2 of the supervisor must be open, or the slots would land on them.
    for (int fd = 0; fd < 3; ++fd) {
        if (::fcntl(fd, F_GETFD) < 0 && ::dup3(null_fd.get(), fd, 0) < 0) {
            return error::from_errno("spawner: reopen fd " + std::to_string(fd));
        }
    }
    std::array<unique_fd, slot_count> slots;
    for (auto& slot : slots) {
        slot.reset(::fcntl(null_fd.get(), F_DUPFD_CLOEXEC, 3));
        if (!slot) {
            return error::from_errno("spawner: reserve fd slot");
        }
    }
    return spawner(std::move(null_fd), std::move(slots));
}

bool spawner::enable_priority_hand_off(std::function<void()> drop_soon) noexcept {
    drop_priority();
    hand_off_ = false;
    const int policy = ::sched_getscheduler(0);
    if (policy != SCHED_OTHER && policy != SCHED_BATCH) {
        return false; // already real-time (or idle) by someone's choice: leave it alone
    }
    sched_param fifo{};
    fifo.sched_priority = 1;
    if (::sched_setscheduler(0, SCHED_FIFO, &fifo) != 0) {
        return false;
    }
    sched_param none{};
    ::sched_setscheduler(0, policy, &none);
    base_policy_ = policy;
    drop_soon_ = std::move(drop_soon);
    hand_off_ = true;
    return true;
}

void spawner::raise_priority() noexcept {
    if (raised_) {
        return;
    }
    sched_param fifo{};
    fifo.sched_priority = 1;
    if (::sched_setscheduler(0, SCHED_FIFO, &fifo) != 0) {
        return; // lost the right since (a cgroup move): spawn at the usual priority
    }
    raised_ = true;
    try {
        if (drop_soon_) {
            drop_soon_();
            return;
        }
    } catch (...) {
    }
    drop_after_spawn_ = true; // nobody arranged a drop: spawn() drops it after the clone
}

void spawner::drop_priority() noexcept {
    if (!raised_) {
        return;
    }
    sched_param none{};
    ::sched_setscheduler(0, base_policy_, &none);
    raised_ = false;
}

void spawner::reset_slots() noexcept {
    for (auto& slot : slots_) {
        ::dup3(null_fd_.get(), slot.get(), O_CLOEXEC);
    }
}

result<spawned_process> spawner::spawn(const spawn_request& req) noexcept {
    std::vector<char*> argv;
    std::vector<char*> envp;
    child_context ctx{};
    try {
        argv = c_strings(req.argv);
        envp = c_strings(req.env);
    } catch (const std::bad_alloc&) {
        return error(ENOMEM, "spawn '" + req.program + "'");
    }
    ctx.program = req.program.c_str();
    ctx.argv = argv.data();
    ctx.envp = envp.data();
    ctx.limit = inherit_limit();
    std::snprintf(ctx.failure.step, sizeof ctx.failure.step, "execve %s", req.program.c_str());

    const int wanted[slot_count] = {req.stdin_fd, req.stdout_fd, req.stderr_fd, req.fd3, req.fd4};
    for (int i = 0; i < slot_count; ++i) {
        ctx.slots[i] = slots_[i].get();
        int source = wanted[i] >= 0 ? wanted[i] : null_fd_.get();
        if (::dup3(source, slots_[i].get(), O_CLOEXEC) < 0) {
            auto err =
                error::from_errno("spawn '" + req.program + "': place fd " + std::to_string(i));
            reset_slots();
            return err;
        }
    }

    int pidfd = -1;
    clone_args args{};
    args.flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD;
    if (req.cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = static_cast<__u64>(req.cgroup_fd);
    }
    if (req.new_pid_namespace) {
        args.flags |= CLONE_NEWPID;
    }
    args.pidfd = reinterpret_cast<__u64>(&pidfd);
    args.exit_signal = SIGCHLD;
    args.stack = reinterpret_cast<__u64>(child_stack);
    args.stack_size = sizeof child_stack;

    if (hand_off_ && req.hand_off_priority) {
        last_hand_off_ = std::chrono::steady_clock::now();
        raise_priority();
    } else {
        drop_priority(); // anything else (an exec probe) must not inherit SCHED_FIFO
    }
    long pid = berth_clone3(&args, sizeof args, child_main, &ctx);
    if (drop_after_spawn_) {
        drop_after_spawn_ = false;
        drop_priority();
    }
    reset_slots();
    if (pid < 0) {
        return error(static_cast<int>(-pid), "spawn '" + req.program + "': clone3");
    }
    return spawned_process{static_cast<pid_t>(pid), unique_fd(pidfd)};
}

} // namespace berth
