// signalfd read on the loop.
#include "engine/signals.hpp"

#include "engine/log.hpp"

#include <signal.h>

#include <boost/asio/read.hpp>

namespace berth {

signal_stream::signal_stream(boost::asio::io_context& io, int fd) : fd_(io, fd) {}

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
}

void signal_stream::read_next() {
    boost::asio::async_read(fd_, boost::asio::buffer(&info_, sizeof info_),
                            [this](const boost::system::error_code& ec, std::size_t n) {
                                if (ec) {
                                    if (ec != boost::asio::error::operation_aborted) {
                                        log::get("engine")->error("signals: read: {}",
                                                                  ec.message());
                                    }
                                    return;
                                }
                                if (n == sizeof info_ && on_signal_) {
                                    try {
                                        on_signal_(info_);
                                    } catch (const std::exception& e) {
                                        log::get("engine")->error("signals: handler: {}", e.what());
                                    }
                                }
                                read_next();
                            });
}

} // namespace berth
