// A small HTTP/1.1 server on the loop, on a Unix socket or on TCP: Boost.Beast parses the
// requests; the server writes the responses' heads itself (docs/metrics.md says why).
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
#include <utility>
#include <vector>

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
    // More header fields, such as Allow on a 405; Server, Content-Type, Content-Length and
    // Connection are the server's. A bad name or a value with control bytes becomes a 500.
    std::vector<std::pair<std::string, std::string>> fields = {};
};

// A response whose body is shared with other responses (one metrics exposition for several
// scrapers), for a responder: the server writes the body from where it is, never copied, and
// holds a reference until the response is written or has failed to be. A null body is empty.
struct shared_response {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::shared_ptr<const std::string> body;
    std::function<void()> on_sent;
};

// Synchronous, runs on the loop, must be cheap. An exception becomes a 500 response.
using handler = std::function<response(const request&)>;

namespace detail {
class reply_slot;
}

// The answer to one request, for a handler that gives it later (async_handler). Copies refer
// to the same request: the first call answers it, later calls do nothing. Call it on the
// loop's thread, inside the handler or from a later completion. If every copy is destroyed
// without a call, the client gets a 500. Waiting for the answer counts against the request's
// timeout (limits::timeout); a connection closed meanwhile drops the answer, after running
// its on_sent.
class responder {
public:
    explicit responder(std::shared_ptr<detail::reply_slot> slot) noexcept
        : slot_(std::move(slot)) {}

    void operator()(response r) const noexcept;
    void operator()(shared_response r) const noexcept;

    // Whether a copy has answered.
    bool answered() const noexcept;

private:
    std::shared_ptr<detail::reply_slot> slot_;
};

// A handler that may answer after it returns: it keeps `reply` and calls it once the response
// is ready, so that building a large answer can be spread over loop turns. Runs on the loop;
// an exception before the answer becomes a 500 response. Requests of one connection are
// answered in order: the next is read once this one's response is written.
using async_handler = std::function<void(const request&, responder reply)>;

struct limits {
    std::size_t max_header_bytes = 8192;      // request line and headers; beyond: 431, close
    std::size_t max_body_bytes = 1 << 20;     // beyond: 413, close
    std::chrono::milliseconds timeout{10000}; // per request, from the first wait for it to the
                                              // last byte of its response; then the
                                              // connection is closed
    std::size_t max_connections = 64;         // beyond: a new connection gets 503 and is closed
    std::size_t max_write_bytes = 4 << 20;    // what the responses being written send per
                                              // round of writes, together: each write sends an
                                              // equal share (at least 64 KiB), so that large
                                              // bodies to many clients never hold the loop long
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
// without its body. A response HTTP forbids (see response::fields, a body on 204) is a 500.
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
    static result<std::unique_ptr<server>> listen_unix(boost::asio::io_context& io,
                                                       const std::string& path, mode_t mode,
                                                       async_handler on_request, limits lim = {});

    // TCP on a numeric address ("127.0.0.1", "::1", "0.0.0.0"); port 0 picks a free port
    // (see local_port).
    static result<std::unique_ptr<server>> listen_tcp(boost::asio::io_context& io,
                                                      const std::string& host, std::uint16_t port,
                                                      handler on_request, limits lim = {});
    static result<std::unique_ptr<server>> listen_tcp(boost::asio::io_context& io,
                                                      const std::string& host, std::uint16_t port,
                                                      async_handler on_request, limits lim = {});

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
