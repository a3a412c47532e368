// Signals as loop events: the signals are blocked process-wide and read from a signalfd.
#pragma once

#include "engine/result.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/signalfd.h>

#include <functional>
#include <initializer_list>

namespace berth {

// Blocks the given signals in the calling thread (berth has one) and delivers them to a
// handler on the loop. Children inherit the blocked mask: berth-shim resets it before exec.
class signal_stream {
public:
    using handler = std::function<void(const signalfd_siginfo&)>;

    static result<signal_stream> create(boost::asio::io_context& io,
                                        std::initializer_list<int> signals) noexcept;

    // Starts reading; the handler runs on the loop for every signal until close().
    void start(handler on_signal);
    void close() noexcept;

private:
    signal_stream(boost::asio::io_context& io, int fd);
    void read_next();
    void drain() noexcept;

    boost::asio::posix::stream_descriptor fd_;
    // A failed wait is retried after a pause: a supervisor that stopped reading signals
    // could never be stopped (it may be PID 1).
    boost::asio::steady_timer retry_;
    handler on_signal_;
};

} // namespace berth
