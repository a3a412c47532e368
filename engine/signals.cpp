// signalfd read on the loop.
#include "engine/signals.hpp"

#include "engine/log.hpp"

#include <signal.h>

#include <cerrno>
#include <cstring>

#include <unistd.h>

#include <chrono>

namespace berth {

signal_stream::signal_stream(boost::asio::io_context& io, int fd) : fd_(io, fd), retry_(io) {}

result<signal_stream> signal_stream::create(boost::asio::io_context& io,
                                            std::initializer_list<int> signals) noexcept {
    sigset_t set;
    sigemptyset(&set);
    for (int s : signals) {
        sigaddset(&set, s);
    }
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
        return error::from_errno("signals: block");
    }
    int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        return error::from_errno("signals: signalfd");
    }
    try {
        return signal_stream(io, fd);
    } catch (const std::exception& e) {
        ::close(fd);
        return error(ENOMEM, std::string("signals: ") + e.what());
    }
}

void signal_stream::start(handler on_signal) {
    on_signal_ = std::move(on_signal);
    read_next();
}

void signal_stream::close() noexcept {
    boost::system::error_code ignored;
    fd_.close(ignored);
    retry_.cancel();
}

// The loop waits for readability and the read itself happens here, on berth's own thread: a
// signalfd hands out the signals of the task that reads it, and an io_uring read may run on
// a kernel worker instead.
void signal_stream::read_next() {
    fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [this](const boost::system::error_code& ec) {
                       if (ec == boost::asio::error::operation_aborted) {
                           return;
                       }
                       if (ec) {
                           log::get("engine")->error("signals: wait: {}; retrying", ec.message());
                           retry_.expires_after(std::chrono::milliseconds(100));
                           retry_.async_wait([this](const boost::system::error_code& tec) {
                               if (!tec && fd_.is_open()) {
                                   read_next();
                               }
                           });
                           return;
                       }
                       drain();
                       if (fd_.is_open()) {
                           read_next();
                       }
                   });
}

void signal_stream::drain() noexcept {
    for (;;) {
        signalfd_siginfo info{};
        ssize_t n = ::read(fd_.native_handle(), &info, sizeof info);
        if (n != static_cast<ssize_t>(sizeof info)) {
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                log::get("engine")->error("signals: read: {}", std::strerror(errno));
            }
            return;
        }
        if (on_signal_) {
            try {
                on_signal_(info);
            } catch (const std::exception& e) {
                log::get("engine")->error("signals: handler: {}", e.what());
            }
        }
        if (!fd_.is_open()) {
            return; // the handler closed the stream
        }
    }
}

} // namespace berth
