// berthctl's side of the control socket: one blocking HTTP exchange, every wait bounded.
#pragma once

#include "engine/result.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/value.hpp>
#include <boost/system/system_error.hpp>

#include <cerrno>
#include <chrono>
#include <string>

namespace berth::ctl {

// How long one exchange may take, connect to last byte.
inline constexpr std::chrono::seconds request_timeout{30};

struct reply {
    unsigned status = 0; // the HTTP status
    std::string raw;     // the body as sent
    boost::json::value body;
};

// A connected socket as a Beast SyncReadStream/SyncWriteStream whose every wait ends at a
// deadline (asio's own blocking socket calls would wait forever).
class deadline_stream {
public:
    deadline_stream(int fd, std::chrono::steady_clock::time_point deadline)
        : fd_(fd), deadline_(deadline) {}

    template <typename Buffers>
    std::size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
        return transfer(first_of(buffers), POLLIN, ec);
    }
    template <typename Buffers> std::size_t read_some(const Buffers& buffers) {
        return or_throw([&](auto& ec) { return read_some(buffers, ec); });
    }
    template <typename Buffers>
    std::size_t write_some(const Buffers& buffers, boost::system::error_code& ec) {
        return transfer(first_of(buffers), POLLOUT, ec);
    }
    template <typename Buffers> std::size_t write_some(const Buffers& buffers) {
        return or_throw([&](auto& ec) { return write_some(buffers, ec); });
    }

private:
    // The first non-empty buffer: one system call moves at most that much.
    template <typename Buffers> static boost::asio::const_buffer first_of(const Buffers& buffers) {
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != boost::asio::buffer_sequence_end(buffers); ++it) {
            boost::asio::const_buffer b(*it);
            if (b.size() > 0) {
                return b;
            }
        }
        return {};
    }

    template <typename F> static std::size_t or_throw(F f) {
        boost::system::error_code ec;
        std::size_t n = f(ec);
        if (ec) {
            throw boost::system::system_error(ec);
        }
        return n;
    }

    // For POLLIN, b is one of the caller's mutable buffers.
    inline std::size_t transfer(boost::asio::const_buffer b, short events,
                                boost::system::error_code& ec) {
        ec = {};
        if (b.size() == 0) {
            return 0;
        }
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline_ - std::chrono::steady_clock::now());
            pollfd p{fd_, events, 0};
            int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
            if (ready == 0) {
                ec = boost::asio::error::timed_out;
                return 0;
            }
            if (ready < 0 && errno == EINTR) {
                continue;
            }
            if (ready < 0) {
                ec = boost::system::error_code(errno, boost::system::system_category());
                return 0;
            }
            ssize_t n = events == POLLIN ? ::recv(fd_, const_cast<void*>(b.data()), b.size(), 0)
                                         : ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
            if (n > 0) {
                return static_cast<std::size_t>(n);
            }
            if (n == 0) {
                ec = boost::asio::error::eof;
                return 0;
            }
            if (errno != EINTR && errno != EAGAIN) {
                ec = boost::system::error_code(errno, boost::system::system_category());
                return 0;
            }
        }
    }

    int fd_;
    std::chrono::steady_clock::time_point deadline_;
};

// Connects to the Unix socket at socket_path, sends one request (body: JSON, or empty for
// none) and reads the answer. Every error means berth gave no usable answer: the socket is
// missing or refuses (errno ENOENT, ECONNREFUSED, EACCES ...), the answer did not come within
// request_timeout, or it is not HTTP with a JSON body (errno 0). A reply with an HTTP error
// status is not an error here.
result<reply> exchange(const std::string& socket_path, boost::beast::http::verb method,
                       const std::string& target, const std::string& body);

} // namespace berth::ctl
