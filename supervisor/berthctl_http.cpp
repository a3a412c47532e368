// berthctl's HTTP exchange: Beast over a plain Unix stream socket, each wait bounded by poll(2),
// so berthctl needs no io_context and no io_uring.
#include "supervisor/berthctl_http.hpp"

#include "engine/unique_fd.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>

namespace berth::ctl {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

constexpr std::uint64_t max_response_bytes = 256 << 20;

result<unique_fd> connect_to(const std::string& path) {
    const std::string subject = "cannot reach berth at '" + path + "'";
    sockaddr_un addr{};
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
        return error(ENAMETOOLONG, subject);
    }
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return error::from_errno(subject + ": socket");
    }
    // A Unix connect waits while the listener's backlog is full, for at most SO_SNDTIMEO.
    timeval limit{request_timeout.count(), 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return error::from_errno(subject + ": connect");
    }
    return fd;
}

} // namespace

result<reply> exchange(const std::string& socket_path, bhttp::verb method,
                       const std::string& target, const std::string& body) {
    auto fd = connect_to(socket_path);
    if (!fd) {
        return fd.error();
    }
    const std::string subject = "berth at '" + socket_path + "'";
    deadline_stream stream(fd->get(), std::chrono::steady_clock::now() + request_timeout);
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, "localhost");
    req.set(bhttp::field::user_agent, "berthctl/" BERTH_VERSION);
    if (!body.empty()) {
        req.set(bhttp::field::content_type, "application/json");
        req.body() = body;
    }
    req.keep_alive(false);
    req.prepare_payload();
    boost::system::error_code ec;
    bhttp::write(stream, req, ec);
    if (ec) {
        return error(0, subject + ": send: " + ec.message());
    }
    boost::beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(max_response_bytes);
    bhttp::read(stream, buffer, parser, ec);
    if (ec) {
        return error(0, subject + ": no answer: " + ec.message());
    }
    reply r;
    r.status = parser.get().result_int();
    r.raw = parser.get().body();
    r.body = json::parse(r.raw, ec);
    if (ec) {
        return error(0, subject + ": the answer is not JSON: " + ec.message());
    }
    return r;
}

} // namespace berth::ctl
