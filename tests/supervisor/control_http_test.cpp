// engine/http_server on a real io_uring loop (its own thread), on a Unix socket in a temp dir
// and on TCP 127.0.0.1 port 0: keep-alive, limits, timeouts, refusals, handler failures.
#include "engine/http_server.hpp"

#include "control_test_support.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

namespace http = berth::http;
using namespace berth::test;

namespace {

enum class transport { unix_socket, tcp };

// A handler with a few fixed routes: /echo answers method, target and body; /throw throws;
// /bad-status returns status 42; /peer answers uid and pid; /sent counts on_sent calls;
// /inject, /bad-field and /no-content return what HTTP forbids (a CR LF in a field value, a
// field name with a space, a 204 with a body); /allow adds an Allow field; /big is 5 MiB.
// 5 MiB that no shifted or repeated piece could pass for: each 8 bytes count up.
std::string big_body() {
    std::string body;
    for (std::uint64_t i = 0; body.size() < (5u << 20); ++i) {
        body.append(reinterpret_cast<const char*>(&i), sizeof i);
    }
    return body;
}

struct test_handler {
    std::atomic<int> requests{0};
    std::atomic<int> sent{0};
    std::optional<ucred> last_peer;

    http::handler make() {
        return [this](const http::request& req) -> http::response {
            ++requests;
            last_peer = req.peer;
            if (req.target == "/throw") {
                throw std::runtime_error("handler failed");
            }
            if (req.target == "/bad-status") {
                return {42, "text/plain", "x", {}};
            }
            if (req.target == "/sent") {
                return {200, "text/plain", "sent", [this] { ++sent; }};
            }
            if (req.target == "/inject") {
                return {200, "text/plain\r\nSet-Cookie: x=1", "x", {}};
            }
            if (req.target == "/bad-field") {
                return {200, "text/plain", "x", {}, {{"Bad Name", "x"}}};
            }
            if (req.target == "/no-content") {
                return {204, "text/plain", "x", {}};
            }
            if (req.target == "/allow") {
                return {405, "text/plain", "no", {}, {{"Allow", "GET, HEAD"}}};
            }
            if (req.target == "/big") {
                return {200, "application/octet-stream", big_body(), {}};
            }
            return {200, "text/plain", req.method + " " + req.target + " " + req.body, {}};
        };
    }
};

class http_server_test : public ::testing::TestWithParam<transport> {
protected:
    temp_dir dir;
    loop_thread loop;
    test_handler handler;
    std::unique_ptr<http::server> server;
    std::string socket_path = (dir.path() / "control.sock").string();

    void TearDown() override {
        if (server) {
            loop.run_on_loop([&] { server->close(); });
        }
        loop.stop();
        server.reset();
    }

    void start(http::limits lim = {}) {
        auto s = GetParam() == transport::unix_socket
                     ? http::server::listen_unix(loop.io, socket_path, 0600, handler.make(), lim)
                     : http::server::listen_tcp(loop.io, "127.0.0.1", 0, handler.make(), lim);
        ASSERT_TRUE(s) << s.error().message();
        server = std::move(*s);
        loop.start();
    }

    berth::unique_fd connect() {
        auto fd = GetParam() == transport::unix_socket ? connect_unix(socket_path)
                                                       : connect_tcp(server->local_port());
        EXPECT_TRUE(fd.valid()) << "connect: " << std::strerror(errno);
        return fd;
    }

    std::size_t connections() {
        return loop.run_on_loop([&] { return server->connections(); });
    }

    // One request on a fresh connection; the reply.
    std::optional<http_reply> get(const std::string& target) {
        auto fd = connect();
        EXPECT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, target, "", false)));
        return read_reply(fd.get());
    }
};

INSTANTIATE_TEST_SUITE_P(both, http_server_test,
                         ::testing::Values(transport::unix_socket, transport::tcp),
                         [](const ::testing::TestParamInfo<transport>& p) {
                             return p.param == transport::unix_socket ? "unix" : "tcp";
                         });

TEST_P(http_server_test, serves_a_request) {
    start();
    auto fd = connect();
    ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::post, "/echo?x=1", "hello", false)));
    auto reply = read_reply(fd.get());
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200u);
    EXPECT_EQ(reply->content_type, "text/plain");
    EXPECT_EQ(reply->body, "POST /echo?x=1 hello");
    EXPECT_FALSE(reply->keep_alive);
    EXPECT_TRUE(closed_by_peer(fd.get())); // "Connection: close" was asked for
}

TEST_P(http_server_test, keep_alive_serves_two_requests_on_one_connection) {
    start();
    auto fd = connect();
    boost::beast::flat_buffer buffer;
    ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, "/one")));
    auto first = read_reply(fd.get(), buffer);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->body, "GET /one ");
    EXPECT_TRUE(first->keep_alive);
    ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, "/two")));
    auto second = read_reply(fd.get(), buffer);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->body, "GET /two ");
    EXPECT_EQ(handler.requests.load(), 2);
}

TEST_P(http_server_test, pipelined_requests_are_answered_in_order) {
    start();
    auto fd = connect();
    ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, "/a") +
                                       request_bytes(bhttp::verb::get, "/b") +
                                       request_bytes(bhttp::verb::get, "/c", "", false)));
    boost::beast::flat_buffer buffer;
    for (const char* want : {"GET /a ", "GET /b ", "GET /c "}) {
        auto reply = read_reply(fd.get(), buffer);
        ASSERT_TRUE(reply) << want;
        EXPECT_EQ(reply->body, want);
    }
    EXPECT_TRUE(closed_by_peer(fd.get()));
}

TEST_P(http_server_test, serves_others_while_a_client_stalls_mid_request) {
    start(http::limits{.timeout = std::chrono::seconds(60)});
    auto stalled = connect();
    ASSERT_TRUE(send_all(stalled.get(), "GET /slow HTTP/1.1\r\nHost: local"));
    // Were the loop blocked on the stalled client, these would not be answered before the
    // 60 s timeout; read_reply gives up after 10 s.
    for (int i = 0; i < 3; ++i) {
        auto reply = get("/other");
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->status, 200u);
    }
    EXPECT_EQ(handler.requests.load(), 3);
    EXPECT_GE(connections(), 1u); // the stalled one is still open
}

TEST_P(http_server_test, a_stalled_partial_request_is_closed_at_the_timeout) {
    start(http::limits{.timeout = std::chrono::milliseconds(300)});
    auto stalled = connect();
    ASSERT_TRUE(send_all(stalled.get(), "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
    auto reply = get("/meanwhile");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200u);
    EXPECT_TRUE(closed_by_peer(stalled.get()));
    EXPECT_TRUE(eventually([&] { return connections() == 0; }));
    EXPECT_EQ(handler.requests.load(), 1); // the partial request never reached the handler
}

TEST_P(http_server_test, an_idle_keep_alive_connection_is_closed_at_the_timeout) {
    start(http::limits{.timeout = std::chrono::milliseconds(300)});
    auto fd = connect();
    boost::beast::flat_buffer buffer;
    ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, "/one")));
    ASSERT_TRUE(read_reply(fd.get(), buffer));
    EXPECT_TRUE(closed_by_peer(fd.get()));
}

TEST_P(http_server_test, an_oversized_header_is_431_and_closed) {
    start(http::limits{.max_header_bytes = 1024});
    auto fd = connect();
    std::string req =
        "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n";
    ASSERT_TRUE(send_all(fd.get(), req));
    auto reply = read_reply(fd.get());
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 431u);
    EXPECT_EQ(reply->body, R"({"error":"request header too large"})");
    EXPECT_FALSE(reply->keep_alive);
    EXPECT_TRUE(closed_by_peer(fd.get()));
    EXPECT_EQ(handler.requests.load(), 0);
}

TEST_P(http_server_test, an_oversized_body_is_413_and_closed) {
    start(http::limits{.max_body_bytes = 1000});
    auto fd = connect();
    std::string req =
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b');
    ASSERT_TRUE(send_all(fd.get(), req));
    auto reply = read_reply(fd.get());
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 413u);
    EXPECT_EQ(reply->body, R"({"error":"request body too large"})");
    EXPECT_TRUE(closed_by_peer(fd.get()));
    EXPECT_EQ(handler.requests.load(), 0);
}

TEST_P(http_server_test, a_chunked_body_over_the_limit_is_413) {
    start(http::limits{.max_body_bytes = 1000});
    auto fd = connect();
    std::string chunk(800, 'c');
    std::string req = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "320\r\n" +
                      chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n";
    ASSERT_TRUE(send_all(fd.get(), req));
    auto reply = read_reply(fd.get());
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 413u);
    EXPECT_TRUE(closed_by_peer(fd.get()));
}

TEST_P(http_server_test, garbage_is_400_and_closed) {
    start();
    auto fd = connect();
    ASSERT_TRUE(send_all(fd.get(), std::string("\x16\x03\x01\x02\x00garbage\r\n\r\n", 16)));
    auto reply = read_reply(fd.get());
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 400u);
    EXPECT_EQ(reply->body.rfind(R"({"error":"malformed request: )", 0), 0u) << reply->body;
    EXPECT_TRUE(closed_by_peer(fd.get()));
    EXPECT_EQ(handler.requests.load(), 0);
}

TEST_P(http_server_test, connections_beyond_the_limit_are_refused) {
    start(http::limits{.max_connections = 2});
    auto a = connect();
    auto b = connect();
    ASSERT_TRUE(eventually([&] { return connections() == 2; }));
    auto refused = connect();
    auto reply = read_reply(refused.get());
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 503u);
    EXPECT_EQ(reply->body, R"({"error":"too many connections"})");
    EXPECT_TRUE(closed_by_peer(refused.get()));
    EXPECT_EQ(connections(), 2u);

    // A freed place is taken again.
    a.reset();
    ASSERT_TRUE(eventually([&] { return connections() == 1; }));
    auto reply_after = get("/again");
    ASSERT_TRUE(reply_after);
    EXPECT_EQ(reply_after->status, 200u);
}

TEST_P(http_server_test, a_throwing_handler_is_500_and_the_connection_lives_on) {
    start();
    auto fd = connect();
    boost::beast::flat_buffer buffer;
    ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, "/throw")));
    auto failed = read_reply(fd.get(), buffer);
    ASSERT_TRUE(failed);
    EXPECT_EQ(failed->status, 500u);
    EXPECT_EQ(failed->body, R"({"error":"internal error"})");
    EXPECT_EQ(failed->content_type, "application/json");
    ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, "/after")));
    auto after = read_reply(fd.get(), buffer);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, 200u);
}

TEST_P(http_server_test, an_invalid_status_from_the_handler_is_500) {
    start();
    auto reply = get("/bad-status");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 500u);
}

TEST_P(http_server_test, a_response_http_forbids_is_500) {
    start();
    for (const char* target : {"/inject", "/bad-field", "/no-content"}) {
        SCOPED_TRACE(target);
        auto fd = connect();
        boost::beast::flat_buffer buffer;
        ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, target)));
        auto reply = read_reply(fd.get(), buffer);
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->status, 500u);
        EXPECT_EQ(reply->content_type, "application/json");
        EXPECT_EQ(reply->body, R"({"error":"internal error"})");
        ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, "/after")));
        auto after = read_reply(fd.get(), buffer);
        ASSERT_TRUE(after) << "the connection should live on";
        EXPECT_EQ(after->body, "GET /after ");
    }
}

TEST_P(http_server_test, the_handlers_fields_are_sent) {
    start();
    auto reply = get("/allow");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 405u);
    EXPECT_EQ(reply->allow, "GET, HEAD");
    EXPECT_EQ(get("/echo")->allow, "");
}

// With max_write_bytes at 64 KiB a write sends at most that, so 5 MiB take 80 writes or more;
// the body arrives whole and in order, and the connection serves the next request.
TEST_P(http_server_test, a_large_body_arrives_whole_across_bounded_writes) {
    http::limits lim;
    lim.max_write_bytes = 64 << 10;
    start(lim);
    auto fd = connect();
    boost::beast::flat_buffer buffer;
    ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, "/big")));
    auto reply = read_reply(fd.get(), buffer);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->content_length, std::to_string(5u << 20));
    EXPECT_TRUE(reply->body == big_body()) << "the body differs from the one sent";
    ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::get, "/after")));
    auto after = read_reply(fd.get(), buffer);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->body, "GET /after ");
}

// HTTP/1.0 closes after the response unless the client asked for keep-alive; when it did, the
// response says so and the connection serves the next request.
TEST_P(http_server_test, http_1_0_keeps_alive_only_when_asked) {
    start();
    auto fd = connect();
    boost::beast::flat_buffer buffer;
    const std::string kept = "GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    ASSERT_TRUE(send_all(fd.get(), kept));
    auto one = read_reply(fd.get(), buffer);
    ASSERT_TRUE(one);
    EXPECT_TRUE(one->keep_alive);
    EXPECT_EQ(one->body, "GET /one ");
    ASSERT_TRUE(send_all(fd.get(), "GET /two HTTP/1.0\r\n\r\n"));
    auto two = read_reply(fd.get(), buffer);
    ASSERT_TRUE(two);
    EXPECT_FALSE(two->keep_alive);
    EXPECT_EQ(two->body, "GET /two ");
    EXPECT_TRUE(closed_by_peer(fd.get()));
}

TEST_P(http_server_test, head_gets_the_headers_without_the_body) {
    start();
    auto fd = connect();
    ASSERT_TRUE(send_all(fd.get(), request_bytes(bhttp::verb::head, "/echo", "", false)));
    boost::beast::flat_buffer buffer;
    auto reply = read_reply(fd.get(), buffer, true);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200u);
    EXPECT_EQ(reply->content_length, std::to_string(std::string("HEAD /echo ").size()));
    EXPECT_TRUE(reply->body.empty());
    EXPECT_TRUE(closed_by_peer(fd.get())); // and no stray body bytes before the close
    EXPECT_EQ(buffer.size(), 0u);
}

TEST_P(http_server_test, on_sent_runs_after_the_response_is_written) {
    start();
    auto reply = get("/sent");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->body, "sent");
    EXPECT_TRUE(eventually([&] { return handler.sent.load() == 1; }));
}

TEST_P(http_server_test, close_ends_open_connections) {
    start();
    auto idle = connect();
    ASSERT_TRUE(eventually([&] { return connections() == 1; }));
    loop.run_on_loop([&] { server->close(); });
    EXPECT_TRUE(closed_by_peer(idle.get()));
    EXPECT_TRUE(eventually([&] { return connections() == 0; }));
    if (GetParam() == transport::unix_socket) {
        EXPECT_FALSE(std::filesystem::exists(socket_path));
    }
}

// berth's exit: the loop has stopped, then the server is destroyed, then the io_context, with
// a connection open and the accept pending (their cancellations never run).
TEST_P(http_server_test, destroying_the_server_after_the_loop_stopped_is_safe) {
    start();
    auto idle = connect();
    ASSERT_TRUE(eventually([&] { return connections() == 1; }));
    loop.stop();
    server.reset();
    EXPECT_TRUE(closed_by_peer(idle.get()));
    EXPECT_FALSE(std::filesystem::exists(socket_path));
}

TEST_P(http_server_test, peer_credentials_on_unix_only) {
    start();
    ASSERT_TRUE(get("/peer"));
    auto peer = loop.run_on_loop([&] { return handler.last_peer; });
    if (GetParam() == transport::unix_socket) {
        ASSERT_TRUE(peer);
        EXPECT_EQ(peer->uid, ::geteuid());
        EXPECT_EQ(peer->pid, ::getpid());
    } else {
        EXPECT_FALSE(peer);
    }
}

// ---- Unix socket files ------------------------------------------------------------------

class unix_socket_file_test : public ::testing::Test {
protected:
    temp_dir dir;
    boost::asio::io_context io;
    std::string path = (dir.path() / "control.sock").string();

    static http::handler ok() {
        return [](const http::request&) { return http::response{}; };
    }
};

TEST_F(unix_socket_file_test, is_created_with_the_mode_and_removed_on_close) {
    ::umask(0);
    auto s = http::server::listen_unix(io, path, 0600, ok());
    ::umask(022);
    ASSERT_TRUE(s) << s.error().message();
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    (*s)->close();
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(unix_socket_file_test, a_stale_socket_file_is_replaced) {
    {
        berth::unique_fd stale(::socket(AF_UNIX, SOCK_STREAM, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        ASSERT_EQ(::bind(stale.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    } // closed without unlink: what a crashed berth leaves
    ASSERT_TRUE(std::filesystem::exists(path));
    auto s = http::server::listen_unix(io, path, 0600, ok());
    ASSERT_TRUE(s) << s.error().message();
}

TEST_F(unix_socket_file_test, a_live_socket_is_not_taken_over) {
    auto first = http::server::listen_unix(io, path, 0600, ok());
    ASSERT_TRUE(first) << first.error().message();
    auto second = http::server::listen_unix(io, path, 0600, ok());
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code(), EADDRINUSE);
    EXPECT_EQ(second.error().message(), "http '" + path +
                                            "': another process is listening on it: Address "
                                            "already in use");
    EXPECT_TRUE(std::filesystem::exists(path)); // the first one's socket is still there
}

TEST_F(unix_socket_file_test, a_file_that_is_not_a_socket_is_left_alone) {
    { std::ofstream(path) << "data"; }
    auto s = http::server::listen_unix(io, path, 0600, ok());
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), EEXIST);
    EXPECT_TRUE(std::filesystem::is_regular_file(path));
}

TEST_F(unix_socket_file_test, a_path_too_long_for_sun_path_is_an_error) {
    auto s = http::server::listen_unix(io, "/tmp/" + std::string(200, 'x'), 0600, ok());
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ENAMETOOLONG);
}

TEST(http_server_tcp, a_non_numeric_host_is_an_error) {
    boost::asio::io_context io;
    auto s = http::server::listen_tcp(io, "localhost", 0,
                                      [](const http::request&) { return http::response{}; });
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), EINVAL);
    EXPECT_EQ(s.error().message(), "http localhost:0: not a numeric IP address: Invalid argument");
}

} // namespace
