// For the control API, HTTP server and berthctl tests: a fake fleet, the loop on its own
// thread, a temp dir, and blocking clients whose every wait has a deadline.
#pragma once

#include "engine/unique_fd.hpp"
#include "supervisor/berthctl_http.hpp"
#include "supervisor/control.hpp"
#include "tests/common/temp_dir.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace berth::test {

namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

// A fleet of three services: web (3 replicas in different states), db (1), idle (0).
inline std::vector<service_view> sample_fleet() {
    replica_view web0{"web",
                      0,
                      "ready",
                      812,
                      7384.5,
                      0,
                      "",
                      false,
                      "",
                      std::uint64_t{12897485},
                      1.25,
                      "/var/log/berth/web/0.log",
                      "/sys/fs/cgroup/berth/web/0"};
    replica_view web1{"web",
                      1,
                      "backoff",
                      -1,
                      std::nullopt,
                      3,
                      "exited 1",
                      false,
                      "",
                      std::nullopt,
                      std::nullopt,
                      "/var/log/berth/web/1.log",
                      "/sys/fs/cgroup/berth/web/1"};
    replica_view web2{"web",
                      2,
                      "failed",
                      -1,
                      std::nullopt,
                      5,
                      "killed by SIGKILL",
                      true,
                      "restart limit reached",
                      std::nullopt,
                      std::nullopt,
                      "",
                      ""};
    replica_view db0{"db",
                     0,
                     "ready",
                     901,
                     45.0,
                     0,
                     "",
                     false,
                     "",
                     std::uint64_t{1536},
                     0.5,
                     "/var/log/berth/db/0.log",
                     "/sys/fs/cgroup/berth/db/0"};
    return {service_view{"web", 3, "nginx", {{"org.test.tier", "front"}}, {web0, web1, web2}},
            service_view{"db", 1, "", {}, {db0}}, service_view{"idle", 0, "", {}, {}}};
}

// Records every call; answers from its fields. Called on the loop thread only; the tests
// read its fields once the answer has come back (after the exchange that caused the call).
class fake_fleet final : public fleet_control {
public:
    std::vector<service_view> fleet = sample_fleet();
    std::vector<std::string> calls;
    std::optional<berth::error> fail_next; // returned by the next start/stop/restart
    reload_outcome reload_answer;
    bool throw_on_services = false;

    std::vector<service_view> services(std::optional<std::string_view> name) override {
        if (throw_on_services) {
            throw std::runtime_error("boom");
        }
        if (!name) {
            return fleet;
        }
        for (const auto& s : fleet) {
            if (s.name == *name) {
                return {s};
            }
        }
        return {};
    }
    berth::status start(std::string_view service, std::optional<std::uint32_t> r) override {
        return act("start", service, r);
    }
    berth::status stop(std::string_view service, std::optional<std::uint32_t> r) override {
        return act("stop", service, r);
    }
    berth::status restart(std::string_view service, std::optional<std::uint32_t> r) override {
        return act("restart", service, r);
    }
    reload_outcome reload(bool dry_run) override {
        calls.push_back(dry_run ? "reload dry_run" : "reload");
        return reload_answer;
    }
    void shutdown(bool reboot) override {
        calls.push_back(reboot ? "shutdown reboot" : "shutdown");
    }

private:
    berth::status act(const std::string& what, std::string_view service,
                      std::optional<std::uint32_t> r) {
        calls.push_back(what + " " + std::string(service) +
                        (r ? "/" + std::to_string(*r) : std::string()));
        if (auto e = std::exchange(fail_next, std::nullopt)) {
            return *e;
        }
        if (services(service).empty()) {
            return berth::error(ENOENT, "no service named '" + std::string(service) +
                                            "'; did you mean 'web'?");
        }
        return {};
    }
};

// The io_context run on a thread of its own, so that blocking test clients can talk to the
// server. Every use of the server's objects goes through run_on_loop().
class loop_thread {
public:
    boost::asio::io_context io;

    void start() {
        thread_ = std::thread([this] { io.run(); });
    }

    template <typename F> auto run_on_loop(F f) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        boost::asio::post(io, [&task] { task(); });
        return result.get();
    }

    void stop() {
        if (thread_.joinable()) {
            guard_.reset();
            io.stop();
            thread_.join();
        }
    }

    ~loop_thread() { stop(); }

private:
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
        io.get_executor()};
    std::thread thread_;
};

// Waits (polling, bounded) until pred holds; false when the deadline passed first.
template <typename Pred> bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

inline unique_fd connect_unix(const std::string& path) {
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return unique_fd();
    }
    return fd;
}

inline unique_fd connect_tcp(std::uint16_t port) {
    unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return unique_fd();
    }
    return fd;
}

inline bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

struct http_reply {
    unsigned status = 0;
    std::string body;
    std::string content_type;
    std::string content_length;
    bool keep_alive = false;
    std::string allow;
};

// Reads one response with Beast. `buffer` keeps bytes of the next one between calls. nullopt:
// the connection ended or the deadline passed first.
inline std::optional<http_reply> read_reply(int fd, boost::beast::flat_buffer& buffer,
                                            bool head = false, std::chrono::seconds limit = 10s) {
    ctl::deadline_stream stream(fd, std::chrono::steady_clock::now() + limit);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(head);
    boost::system::error_code ec;
    bhttp::read(stream, buffer, parser, ec);
    if (ec) {
        return std::nullopt;
    }
    const auto& msg = parser.get();
    return http_reply{msg.result_int(),
                      msg.body(),
                      std::string(msg[bhttp::field::content_type]),
                      std::string(msg[bhttp::field::content_length]),
                      msg.keep_alive(),
                      std::string(msg[bhttp::field::allow])};
}

inline std::optional<http_reply> read_reply(int fd) {
    boost::beast::flat_buffer buffer;
    return read_reply(fd, buffer);
}

// Whether the peer closes the connection (EOF or reset) before the deadline; reads and drops
// whatever comes before.
inline bool closed_by_peer(int fd, std::chrono::seconds limit = 10s) {
    ctl::deadline_stream stream(fd, std::chrono::steady_clock::now() + limit);
    char buf[4096];
    for (;;) {
        boost::system::error_code ec;
        stream.read_some(boost::asio::buffer(buf), ec);
        if (ec == boost::asio::error::timed_out) {
            return false;
        }
        if (ec) {
            return true;
        }
    }
}

// A request as bytes, serialized by Beast.
inline std::string request_bytes(bhttp::verb method, const std::string& target,
                                 const std::string& body = "", bool keep_alive = true) {
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, "localhost");
    req.body() = body;
    req.keep_alive(keep_alive);
    req.prepare_payload();
    std::ostringstream out;
    out << req;
    return out.str();
}

} // namespace berth::test
