// A container's process: spawn, setup report, output, exit.
#include "engine/container.hpp"

#include "engine/log.hpp"
#include "shim/protocol.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstring>

namespace berth {
namespace {

// One read buffer for every container's output: memory does not grow with the fleet.
std::array<char, 64 * 1024> output_buffer;

struct pipe_pair {
    unique_fd read;
    unique_fd write;
};

result<pipe_pair> make_pipe(int read_flags) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return error::from_errno("pipe");
    }
    pipe_pair p{unique_fd(fds[0]), unique_fd(fds[1])};
    if (read_flags != 0 && ::fcntl(p.read.get(), F_SETFL, read_flags) != 0) {
        return error::from_errno("pipe: fcntl");
    }
    return p;
}

const char* signal_name(int signo) {
    const char* abbrev = ::sigabbrev_np(signo);
    return abbrev != nullptr ? abbrev : "?";
}

} // namespace

std::string container_exit::describe() const {
    if (setup_failure) {
        return setup_failure->message();
    }
    std::string text;
    if (process.signaled) {
        text = "killed by SIG" + std::string(signal_name(process.code));
        if (process.core_dumped) {
            text += " (core dumped)";
        }
    } else {
        text = "exited " + std::to_string(process.code);
    }
    if (oom_killed) {
        text += " after OOM kill";
    }
    return text;
}

container::container(boost::asio::io_context& io, spawner& spawn, reaper& reap) noexcept
    : io_(io), spawn_(spawn), reap_(reap) {}

container::~container() {
    if (alive()) {
        (void)signal(SIGKILL);
        reap_.detach(pid_);
    }
}

status container::start(const container_launch& launch, callbacks cbs) noexcept {
    try {
        name_ = launch.name;
        setup_failure_.reset();
        ++*run_;
        auto status_pipe = make_pipe(O_NONBLOCK);
        if (!status_pipe) {
            return status_pipe.error();
        }
        auto output_pipe = make_pipe(O_NONBLOCK);
        if (!output_pipe) {
            return output_pipe.error();
        }
        if (!launch.log_path.empty()) {
            auto log = log_file::open(launch.log_path, launch.log_max_size, launch.log_max_files);
            if (!log) {
                return log.error();
            }
            log_.emplace(std::move(log.value()));
        }

        spawn_request req;
        req.program = launch.shim_path;
        req.argv = launch.argv;
        req.env = launch.env;
        req.cgroup_fd = launch.cgroup_fd;
        req.new_pid_namespace = launch.new_pid_namespace;
        req.stdout_fd = output_pipe->write.get();
        req.stderr_fd = output_pipe->write.get();
        req.fd3 = status_pipe->write.get();
        req.fd4 = launch.root_ns_fd;
        req.hand_off_priority = launch.hand_off_priority;
        spawn_called_ = std::chrono::steady_clock::now();
        auto child = spawn_.spawn(req);
        if (!child) {
            return child.error();
        }
        started_ = std::chrono::steady_clock::now();
        pid_ = child->pid;
        cbs_ = std::move(cbs);

        status_.emplace(io_, status_pipe->read.release());
        output_.emplace(io_, output_pipe->read.release());
        if (!reap_.watch(pid_, std::move(child->pidfd),
                         [this](const exit_info& info) { finish(info); })) {
            (void)signal(SIGKILL);
            return error(ENOMEM, "watch pidfd");
        }
        read_status();
        read_output();
        return {};
    } catch (const std::exception& e) {
        return error(ENOMEM, std::string("start: ") + e.what());
    }
}

status container::signal(int signo) noexcept {
    if (!alive()) {
        return error(ESRCH, "container " + name_ + ": signal");
    }
    if (int err = reap_.send_signal(pid_, signo); err != 0) {
        return error(err, "container " + name_ + ": signal SIG" + signal_name(signo));
    }
    return {};
}

void container::read_status() {
    status_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this, run = std::weak_ptr<std::uint64_t>(run_),
                         number = *run_](const boost::system::error_code& ec) {
                            auto current = run.lock();
                            if (ec || !current || *current != number || !status_) {
                                return;
                            }
                            berth_shim_failure rec{};
                            ssize_t n = ::read(status_->native_handle(), &rec, sizeof rec);
                            if (n < 0 && errno == EAGAIN) {
                                read_status();
                                return;
                            }
                            if (n == static_cast<ssize_t>(sizeof rec)) {
                                rec.step[sizeof rec.step - 1] = '\0';
                                setup_failure_ = error(rec.error, "shim: " + std::string(rec.step));
                            }
                            status_.reset();
                            if (n == 0 && cbs_.on_running) {
                                cbs_.on_running();
                            }
                        });
}

void container::read_output() {
    output_->async_wait(
        boost::asio::posix::stream_descriptor::wait_read,
        [this, run = std::weak_ptr<std::uint64_t>(run_),
         number = *run_](const boost::system::error_code& ec) {
            auto current = run.lock();
            if (ec || !current || *current != number || !output_) {
                return;
            }
            // One buffer's worth per wake-up: a flooding container waits its
            // turn behind the others instead of holding the loop.
            ssize_t n =
                ::read(output_->native_handle(), output_buffer.data(), output_buffer.size());
            if (n > 0) {
                if (log_) {
                    auto st = log_->append({output_buffer.data(), static_cast<std::size_t>(n)});
                    if (!st) {
                        log::get("engine")->warn("{}", st.error().message());
                    }
                }
                read_output();
            } else if (n < 0 && errno == EAGAIN) {
                read_output();
            } else {
                output_.reset(); // end of file: every writer is gone
            }
        });
}

void container::finish(const exit_info& info) noexcept {
    // The shim writes its failure record before it exits, so it is in the pipe by now even
    // if the loop has not read it yet.
    // A quick command can exit before the loop has seen the status pipe close on exec; its
    // end of file is read here, so the owner still hears "running" before "exited".
    if (status_) {
        berth_shim_failure rec{};
        ssize_t n = ::read(status_->native_handle(), &rec, sizeof rec);
        if (n == static_cast<ssize_t>(sizeof rec)) {
            rec.step[sizeof rec.step - 1] = '\0';
            setup_failure_ = error(rec.error, "shim: " + std::string(rec.step));
        }
        status_.reset();
        if (n == 0 && cbs_.on_running) {
            try {
                cbs_.on_running();
            } catch (const std::exception& e) {
                log::get("engine")->error("container {}: running handler: {}", name_, e.what());
            }
        }
    }
    // Output written before the exit is drained now; later output from processes that
    // outlive the main one (possible only without a pid namespace) is dropped.
    if (output_) {
        for (int rounds = 0; rounds < 16; ++rounds) {
            ssize_t n =
                ::read(output_->native_handle(), output_buffer.data(), output_buffer.size());
            if (n <= 0) {
                break;
            }
            if (log_) {
                (void)log_->append({output_buffer.data(), static_cast<std::size_t>(n)});
            }
        }
        output_.reset();
    }
    log_.reset();
    pid_ = -1;
    container_exit out{info, setup_failure_, false, std::nullopt};
    if (info.lifetime) {
        // The kernel stamps the child's start (CLOCK_MONOTONIC, as steady_clock) during
        // clone3, after spawn_called_: the exit was at or after this time.
        auto exited = spawn_called_ + *info.lifetime;
        out.reap_latency =
            std::max(std::chrono::steady_clock::duration::zero(), info.reaped - exited);
    }
    if (cbs_.on_exit) {
        auto on_exit = std::move(cbs_.on_exit);
        cbs_ = {};
        try {
            on_exit(out);
        } catch (const std::exception& e) {
            log::get("engine")->error("container {}: exit handler: {}", name_, e.what());
        }
    }
}

} // namespace berth
