// Starting a program the way the supervisor starts berth-shim (clone3, fd 3 = status pipe,
// every signal blocked), for the host tests and the timing tool.
#include "tests/shim/shim_runner.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace berth::test {
namespace {

constexpr int first_private_fd = 20; // the parent's fds sit above every slot the child fills
constexpr int leaked_slot = 7;

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

int private_fd(int fd) {
    if (fd < 0) {
        throw_errno("test launch: open");
    }
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, first_private_fd);
    ::close(fd);
    if (moved < 0) {
        throw_errno("test launch: fcntl F_DUPFD_CLOEXEC");
    }
    return moved;
}

struct pipe_ends {
    int read = -1;
    int write = -1;
};

pipe_ends make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw_errno("test launch: pipe2");
    }
    return {private_fd(fds[0]), private_fd(fds[1])};
}

std::vector<char*> c_strings(const std::vector<std::string>& words) {
    std::vector<char*> out;
    for (const auto& w : words) {
        out.push_back(const_cast<char*>(w.c_str()));
    }
    out.push_back(nullptr);
    return out;
}

// In the child: only system calls. The parent's memory is a copy (no CLONE_VM).
[[noreturn]] void child(const char* program, char* const* argv, char* const* envp, int null_fd,
                        int out_fd, int err_fd, int status_fd, int leaked_fd, int root_ns_fd,
                        const char* extra_proc_at) {
    if (extra_proc_at != nullptr &&
        (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
         ::mount("proc", extra_proc_at, "proc", 0, nullptr) != 0)) {
        ::_exit(125);
    }

    // As the supervisor leaves it: every signal blocked, SIGPIPE ignored (the shim must reset
    // both), SIGUSR1 ignored as well to see that the reset covers more than one signal.
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, nullptr);
    sigaction(SIGUSR1, &ignore, nullptr);

    // dup2 leaves the copies without close-on-exec; the shim must set it on fd 3 itself.
    if (::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0 ||
        ::dup2(status_fd, BERTH_SHIM_STATUS_FD) < 0) {
        ::_exit(126);
    }
    if (leaked_fd >= 0 && ::dup2(leaked_fd, leaked_slot) < 0) {
        ::_exit(126);
    }
    if (root_ns_fd >= 0 && ::dup2(root_ns_fd, BERTH_SHIM_ROOT_NS_FD) < 0) {
        ::_exit(126);
    }
    ::execve(program, argv, envp);
    ::_exit(126);
}

} // namespace

bool outcome::exited() const {
    return !timed_out && WIFEXITED(wait_status);
}

int outcome::exit_code() const {
    return exited() ? WEXITSTATUS(wait_status) : -1;
}

running running::start(const launch& what) {
    running r;
    r.deadline_ = std::chrono::steady_clock::now() + what.deadline;
    int null_fd = private_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    pipe_ends out{}, err{};
    if (what.capture) {
        out = make_pipe();
        err = make_pipe();
    }
    pipe_ends status = make_pipe();
    int leaked = -1;
    if (!what.leaked_dir.empty()) {
        leaked = private_fd(::open(what.leaked_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    }
    int root_ns = -1; // a copy above the fds the child places, closed with the others
    if (what.root_ns_fd >= 0) {
        root_ns = private_fd(::fcntl(what.root_ns_fd, F_DUPFD_CLOEXEC, 0));
    }
    auto argv = c_strings(what.argv);
    auto envp = c_strings(what.env);

    clone_args args{};
    args.flags = what.new_pid_namespace ? CLONE_NEWPID : 0;
    if (!what.extra_proc_at.empty()) {
        args.flags |= CLONE_NEWNS;
    }
    args.exit_signal = SIGCHLD;
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
        child(what.program.c_str(), argv.data(), envp.data(), null_fd,
              what.capture ? out.write : null_fd, what.capture ? err.write : null_fd, status.write,
              leaked, root_ns, what.extra_proc_at.empty() ? nullptr : what.extra_proc_at.c_str());
    }
    int clone_errno = errno;
    for (int fd : {null_fd, out.write, err.write, status.write, leaked, root_ns}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    r.out_fd_ = out.read;
    r.err_fd_ = err.read;
    r.status_fd_ = status.read;
    if (pid < 0) {
        errno = clone_errno;
        throw_errno("test launch: clone3");
    }
    r.pid_ = static_cast<pid_t>(pid);
    return r;
}

running::running(running&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), out_fd_(std::exchange(other.out_fd_, -1)),
      err_fd_(std::exchange(other.err_fd_, -1)), status_fd_(std::exchange(other.status_fd_, -1)),
      status_bytes_(std::move(other.status_bytes_)), deadline_(other.deadline_),
      result_(std::move(other.result_)) {}

running::~running() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : {out_fd_, err_fd_, status_fd_}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

bool running::past_deadline() const {
    return std::chrono::steady_clock::now() >= deadline_;
}

bool running::pump(int timeout_ms) {
    int* fds[] = {&out_fd_, &err_fd_, &status_fd_};
    std::string* sinks[] = {&result_.out, &result_.err, &status_bytes_};
    pollfd polled[3];
    int count = 0;
    int which[3];
    for (int i = 0; i < 3; ++i) {
        if (*fds[i] >= 0) {
            polled[count] = {*fds[i], POLLIN, 0};
            which[count++] = i;
        }
    }
    if (count == 0) {
        return false;
    }
    int ready = ::poll(polled, count, timeout_ms);
    if (ready < 0 && errno != EINTR) {
        throw_errno("test launch: poll");
    }
    for (int k = 0; k < count && ready > 0; ++k) {
        if (polled[k].revents == 0) {
            continue;
        }
        char buffer[4096];
        ssize_t n = ::read(polled[k].fd, buffer, sizeof buffer);
        if (n > 0) {
            sinks[which[k]]->append(buffer, static_cast<size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            ::close(*fds[which[k]]);
            *fds[which[k]] = -1;
        }
    }
    return true;
}

bool running::wait_for_output(std::string_view text) {
    while (result_.out.find(text) == std::string::npos) {
        if (past_deadline() || out_fd_ < 0 || !pump(100)) {
            return result_.out.find(text) != std::string::npos;
        }
    }
    return true;
}

outcome running::finish() {
    while (pump(100)) {
        if (past_deadline()) {
            result_.timed_out = true;
            ::kill(pid_, SIGKILL);
            break;
        }
    }
    rusage usage{};
    ::wait4(pid_, &result_.wait_status, 0, &usage);
    pid_ = -1;
    auto us = [](const timeval& t) { return t.tv_sec * 1e6 + static_cast<double>(t.tv_usec); };
    result_.cpu_us = us(usage.ru_utime) + us(usage.ru_stime);
    if (status_bytes_.size() == sizeof(berth_shim_failure)) {
        berth_shim_failure failure;
        std::memcpy(&failure, status_bytes_.data(), sizeof failure);
        failure.step[sizeof failure.step - 1] = '\0';
        result_.failure = failure;
    }
    return std::move(result_);
}

outcome run(const launch& what) {
    return running::start(what).finish();
}

std::vector<std::string> shim_argv(const std::vector<std::string>& spec,
                                   const std::vector<std::string>& workload) {
    std::vector<std::string> argv{"berth-shim"};
    argv.insert(argv.end(), spec.begin(), spec.end());
    argv.push_back("--");
    argv.insert(argv.end(), workload.begin(), workload.end());
    return argv;
}

} // namespace berth::test
