// pidfd waits on the loop, waitid(P_PIDFD) collection, and orphan reaping for PID 1.
#include "engine/reaper.hpp"

#include "engine/exit_clock.hpp"
#include "engine/log.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace berth {

exit_info decode_exit(const siginfo_t& info) noexcept {
    exit_info out;
    out.reaped = std::chrono::steady_clock::now();
    switch (info.si_code) {
    case CLD_EXITED:
        out.code = info.si_status;
        break;
    case CLD_DUMPED:
        out.core_dumped = true;
        out.signaled = true;
        out.code = info.si_status;
        break;
    default: // CLD_KILLED; stopped/continued are not asked for (WEXITED only)
        out.signaled = true;
        out.code = info.si_status;
        break;
    }
    return out;
}

bool reaper::watch(pid_t pid, unique_fd pidfd, exit_handler on_exit) noexcept {
    try {
        auto e = std::make_unique<entry>(
            entry{boost::asio::posix::stream_descriptor(io_, pidfd.get()), std::move(on_exit)});
        pidfd.release();
        auto& ref = *e;
        if (clock_ != nullptr) {
            clock_->expect(pid);
        }
        entries_[pid] = std::move(e);
        arm(pid, ref);
        return true;
    } catch (const std::exception& ex) {
        log::get("engine")->error("pid {}: watch pidfd: {}", pid, ex.what());
        return false;
    }
}

void reaper::arm(pid_t pid, entry& e) {
    e.pidfd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this, pid](const boost::system::error_code& ec) {
                           if (ec == boost::asio::error::operation_aborted) {
                               return; // delivered through SIGCHLD, or shutting down
                           }
                           collect(pid);
                       });
}

int reaper::send_signal(pid_t pid, int signo) noexcept {
    auto it = entries_.find(pid);
    if (it == entries_.end()) {
        return ESRCH;
    }
    int fd = it->second->pidfd.native_handle();
    return ::syscall(SYS_pidfd_send_signal, fd, signo, nullptr, 0) == 0 ? 0 : errno;
}

void reaper::detach(pid_t pid) noexcept {
    if (auto it = entries_.find(pid); it != entries_.end()) {
        it->second->on_exit = [](const exit_info&) {};
    }
}

void reaper::collect(pid_t pid) noexcept {
    auto it = entries_.find(pid);
    if (it == entries_.end()) {
        return;
    }
    siginfo_t info{};
    int rc = ::waitid(P_PIDFD, static_cast<id_t>(it->second->pidfd.native_handle()), &info,
                      WEXITED | WNOHANG);
    if (rc == 0 && info.si_pid == 0) {
        // Readable but not yet waitable cannot happen for an exited process; re-arm anyway.
        arm(pid, *it->second);
        return;
    }
    if (rc != 0) {
        log::get("engine")->error("pid {}: waitid: {}", pid, std::strerror(errno));
        info.si_code = CLD_KILLED;
        info.si_status = SIGKILL;
    }
    deliver(pid, info);
}

void reaper::deliver(pid_t pid, const siginfo_t& info) noexcept {
    auto it = entries_.find(pid);
    if (it == entries_.end()) {
        return;
    }
    auto handler = std::move(it->second->on_exit);
    entries_.erase(it);
    try {
        exit_info decoded = decode_exit(info);
        if (clock_ != nullptr) {
            decoded.lifetime = clock_->take(pid);
        }
        handler(decoded);
    } catch (const std::exception& e) {
        log::get("engine")->error("pid {}: exit handler: {}", pid, e.what());
    }
}

void reaper::reap_children() noexcept {
    for (;;) {
        siginfo_t info{};
        // Peek first: a managed child must be collected through its own entry.
        if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) {
            return;
        }
        pid_t pid = info.si_pid;
        if (entries_.contains(pid)) {
            collect(pid);
            continue;
        }
        siginfo_t reaped{};
        if (::waitid(P_PID, static_cast<id_t>(pid), &reaped, WEXITED | WNOHANG) == 0) {
            ++orphans_reaped_;
            log::get("engine")->debug("reaped orphan pid={}", pid);
        }
    }
}

} // namespace berth
