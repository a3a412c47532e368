// A small HTTP/1.1 server on the loop (Boost.Beast), on a Unix socket or on TCP.
#pragma once

#include "engine/result.hpp"

#include <sys/socket.h>
#include <sys/types.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace berth::http {

struct request {
    std::string method; // as sent: "GET", "POST", ...
    std::string target; // origin-form with the query: "/v1/reload?dry_run=1"
    std::string body;
    std::optional<ucred> peer; // SO_PEERCRED of the connecting process; Unix sockets only
};

struct response {
    unsigned status = 200; // outside 100..599 the client gets a 500 instead
    std::string content_type = "application/json";
    std::string body;
    // Runs on the loop once the response has been written, or has failed to be (client gone,
    // server closed). For actions that must not begin before the client has its answer,
    // such as shutting the process down. Exceptions are caught and logged.
    std::function<void()> on_sent;
};

// Synchronous, runs on the loop, must be cheap. An exception becomes a 500 response.
using handler = std::function<response(const request&)>;

struct limits {
    std::size_t max_header_bytes = 8192;      // request line and headers; beyond: 431, close
    std::size_t max_body_bytes = 1 << 20;     // beyond: 413, close
    std::chrono::milliseconds timeout{10000}; // per request, from the first wait for it to the
                                              // last byte of its response; then the
                                              // connection is closed
    std::size_t max_connections = 64;         // beyond: a new connection gets 503 and is closed
};

namespace detail {
class listener_base;
}

// Serves one listening socket. Every operation runs on the io_context's thread; nothing
// blocks it and nothing thrown escapes into the loop. Keep-alive is supported (HTTP/1.1
// default, or "Connection: keep-alive"); pipelined requests are answered in order.
//
// The server's own error responses (400 unparsable request, 413, 431, 500, 503) carry a JSON
// body {"error": "..."} and "Connection: close". A HEAD request gets the handler's headers
// without its body.
//
// Destroy the server before its io_context. Connections still open then are closed.
class server {
public:
    // Unix socket: removes a stale socket file first (a live one, where a connect succeeds,
    // is an EADDRINUSE error; a path that is not a socket, EEXIST), binds under a tight
    // umask, chmods to `mode` (0600), listens.
    static result<std::unique_ptr<server>> listen_unix(boost::asio::io_context& io,
                                                       const std::string& path, mode_t mode,
                                                       handler on_request, limits lim = {});

    // TCP on a numeric address ("127.0.0.1", "::1", "0.0.0.0"); port 0 picks a free port
    // (see local_port).
    static result<std::unique_ptr<server>> listen_tcp(boost::asio::io_context& io,
                                                      const std::string& host, std::uint16_t port,
                                                      handler on_request, limits lim = {});

    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Stops accepting and closes every connection; a Unix socket file is removed (when it is
    // still the one this server bound). Idempotent.
    void close() noexcept;

    // Open connections, including ones being closed.
    std::size_t connections() const noexcept;

    // The bound TCP port (useful after port 0); 0 on a Unix socket.
    std::uint16_t local_port() const noexcept;

private:
    explicit server(std::shared_ptr<detail::listener_base> impl) noexcept;

    std::shared_ptr<detail::listener_base> impl_;
};

} // namespace berth::http
