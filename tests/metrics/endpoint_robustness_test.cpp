// The metrics endpoint under abuse, over TCP on 127.0.0.1: a registry holding 3,000 containers'
// series (megabytes per scrape) behind engine/http_server, its loop on a thread of its own, and
// blocking clients whose every wait has a deadline: readers that stall, 32 parallel scrapers,
// scrapes while the registry changes, pipelining, requests in pieces, oversized headers,
// clients that hang up, 404 and 405.
#include "engine/http_server.hpp"
#include "engine/unique_fd.hpp"
#include "metrics/collector.hpp"
#include "metrics/endpoint.hpp"
#include "tests/metrics/exposition.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <latch>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace berth::metrics {
namespace {

namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using testing::fake_cgroup;

using testing::states;

// ---- blocking clients, every wait bounded -----------------------------------------------

// A connected TCP socket to 127.0.0.1:port; `receive_buffer` > 0 sets SO_RCVBUF before the
// connect, which bounds the window the server may fill. Invalid when the connect failed.
unique_fd connect_tcp(std::uint16_t port, int receive_buffer = 0) {
    unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (receive_buffer > 0) {
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return unique_fd();
    }
    return fd;
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// A request as bytes; `close` asks for "Connection: close", `extra` is more header lines.
std::string request(std::string_view method, std::string_view target, bool close = true,
                    std::string_view body = "", std::string_view extra = "") {
    std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n" +
                      "Host: 127.0.0.1\r\n" + std::string(extra);
    if (close) {
        out += "Connection: close\r\n";
    }
    if (!body.empty()) {
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    return out + "\r\n" + std::string(body);
}

// Waits until `fd` has something to read (data, EOF or an error) before `deadline`.
bool readable_before(int fd, clock_type::time_point deadline) {
    for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock_type::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        int rc = ::poll(&p, 1, static_cast<int>(left.count()));
        if (rc > 0) {
            return true;
        }
        if (rc < 0 && errno != EINTR) {
            return false;
        }
    }
}

struct reply {
    unsigned status = 0;
    std::string content_type;
    std::optional<std::size_t> content_length;
    std::string allow;
    bool keep_alive = false;
    std::string body;
};

// Reads one response (Beast's parser fed by recv). nullopt: the connection ended, or the
// deadline passed, before the response was complete. `head`: the response has no body.
// `pending` holds bytes read but not yet parsed, before and after: those of the responses
// that follow this one (pipelining).
std::optional<reply> read_reply(int fd, std::string& pending, bool head = false,
                                std::chrono::milliseconds limit = 10s) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(std::uint64_t{256} << 20);
    parser.skip(head);
    const auto deadline = clock_type::now() + limit;
    std::vector<char> buf(65536);
    for (;;) {
        boost::beast::error_code ec;
        while (!pending.empty() && !parser.is_done()) {
            std::size_t used = parser.put(boost::asio::buffer(pending), ec);
            pending.erase(0, used);
            if (ec == bhttp::error::need_more) {
                break;
            }
            if (ec) {
                return std::nullopt;
            }
        }
        if (parser.is_done()) {
            break;
        }
        if (!readable_before(fd, deadline)) {
            return std::nullopt;
        }
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0) {
            parser.put_eof(ec);
            if (ec || !parser.is_done()) {
                return std::nullopt;
            }
            break;
        }
        if (n < 0) {
            return std::nullopt;
        }
        pending.append(buf.data(), static_cast<std::size_t>(n));
    }
    const auto& msg = parser.get();
    reply out;
    out.status = msg.result_int();
    out.content_type = std::string(msg[bhttp::field::content_type]);
    if (auto it = msg.find(bhttp::field::content_length); it != msg.end()) {
        out.content_length = std::stoull(std::string(it->value()));
    }
    out.allow = std::string(msg[bhttp::field::allow]);
    out.keep_alive = msg.keep_alive();
    out.body = msg.body();
    return out;
}

// One response on a connection with no request in flight behind it.
std::optional<reply> read_reply(int fd, bool head = false, std::chrono::milliseconds limit = 10s) {
    std::string pending;
    return read_reply(fd, pending, head, limit);
}

// One request on a fresh connection ("Connection: close"); its reply.
std::optional<reply> fetch(std::uint16_t port, std::string_view target,
                           std::chrono::milliseconds limit = 10s) {
    auto fd = connect_tcp(port);
    if (!fd || !send_all(fd.get(), request("GET", target))) {
        return std::nullopt;
    }
    return read_reply(fd.get(), false, limit);
}

// Every byte a connection still delivers, and whether it ended (EOF or reset) in time.
struct drained {
    std::string bytes;
    bool ended = false;
};

// Reads until the connection ends or `limit` passes; `step` bytes per read, `pause` between
// reads, as long as `slow` holds (a reader that trickles, then drains at full speed).
drained drain(int fd, std::chrono::milliseconds limit, std::size_t step = 65536,
              std::chrono::milliseconds pause = 0ms, const std::atomic<bool>* slow = nullptr) {
    drained out;
    const auto deadline = clock_type::now() + limit;
    std::vector<char> buf(65536);
    while (readable_before(fd, deadline)) {
        const bool trickle = slow != nullptr && slow->load();
        ssize_t n = ::recv(fd, buf.data(), trickle ? step : buf.size(), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            out.ended = true;
            return out;
        }
        out.bytes.append(buf.data(), static_cast<std::size_t>(n));
        if (trickle) {
            std::this_thread::sleep_for(pause);
        }
    }
    return out;
}

// The size a raw response says it has (its header block plus Content-Length); 0 while the
// header block is incomplete or names no length.
std::size_t declared_size(const std::string& raw) {
    auto end = raw.find("\r\n\r\n");
    if (end == std::string::npos) {
        return 0;
    }
    const std::string field = "\r\nContent-Length: ";
    auto at = raw.find(field);
    if (at == std::string::npos || at > end) {
        return 0;
    }
    return end + 4 + std::stoull(raw.substr(at + field.size()));
}

// Waits (polling, bounded) until pred holds; false when the deadline passed first.
template <typename Pred> bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto end = clock_type::now() + limit;
    while (!pred()) {
        if (clock_type::now() > end) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// ---- checking an exposition -------------------------------------------------------------

bool metric_name_char(char c, bool first) {
    return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (!first && c >= '0' && c <= '9');
}

// Whether `line` is a comment, or `name{labels} value` (labels optional: name="value" pairs,
// escaped values) with a numeric value: the line shapes of text format 0.0.4, no timestamps.
bool well_formed(std::string_view line) {
    if (line.starts_with("#")) {
        return true;
    }
    std::size_t i = 0;
    while (i < line.size() && metric_name_char(line[i], i == 0)) {
        ++i;
    }
    if (i == 0) {
        return false;
    }
    if (i < line.size() && line[i] == '{') {
        ++i;
        while (i < line.size() && line[i] != '}') {
            std::size_t start = i;
            while (i < line.size() && metric_name_char(line[i], i == start) && line[i] != ':') {
                ++i;
            }
            if (i == start || line.substr(i, 2) != "=\"") {
                return false;
            }
            for (i += 2; i < line.size() && line[i] != '"'; ++i) {
                if (line[i] == '\\') {
                    ++i;
                }
            }
            if (i >= line.size()) {
                return false;
            }
            ++i; // the closing quote
            if (i < line.size() && line[i] == ',') {
                ++i;
            }
        }
        if (i >= line.size()) {
            return false;
        }
        ++i; // '}'
    }
    if (i >= line.size() || line[i] != ' ') {
        return false;
    }
    std::string value(line.substr(i + 1));
    if (value == "+Inf" || value == "-Inf" || value == "NaN") {
        return true;
    }
    char* end = nullptr;
    (void)std::strtod(value.c_str(), &end);
    return !value.empty() && end == value.c_str() + value.size();
}

// The first line of `body` that is not well formed, or nullopt.
std::optional<std::string> malformed_line(std::string_view body) {
    while (!body.empty()) {
        auto end = body.find('\n');
        if (end == std::string_view::npos) {
            return std::string(body) + " (no newline at the end)";
        }
        if (!well_formed(body.substr(0, end))) {
            return std::string(body.substr(0, end));
        }
        body.remove_prefix(end + 1);
    }
    return std::nullopt;
}

// How many times `needle` occurs in `body`.
std::size_t count_of(std::string_view body, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = body.find(needle); at != std::string_view::npos;
         at = body.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

// The exposition with the values of the series each scrape reads anew (berth's own resident
// memory, its uptime) blanked: two scrapes of an unchanged registry then compare equal.
std::string without_per_scrape_values(std::string_view body) {
    std::string out;
    out.reserve(body.size());
    while (!body.empty()) {
        auto end = std::min(body.find('\n'), body.size());
        auto line = body.substr(0, end);
        bool volatile_value = line.starts_with("berth_process_resident_memory_bytes ") ||
                              line.starts_with("berth_uptime_seconds ");
        out += volatile_value ? line.substr(0, line.find(' ')) : line;
        out += '\n';
        body.remove_prefix(std::min(end + 1, body.size()));
    }
    return out;
}

// ---- the fixture ------------------------------------------------------------------------

// 30 services of 100 replicas, every container read once from one fake cgroup directory
// holding every controller's files (about 1.1 kB of series each, 3+ MB per scrape); the
// server is started by each test with the limits it needs, its loop on a thread of its own,
// and the endpoint is set up as berth sets it up.
class metrics_endpoint_robustness : public ::testing::Test {
protected:
    static constexpr int replicas_per_service = 100;

    void SetUp() override {
        fake_cgroup{}.write(tmp_.path() / "leaf");
        add_services(30);
    }

    // `count` more services of replicas_per_service containers, read once before this returns.
    // Call it before start().
    void add_services(int count) {
        const auto leaf = (tmp_.path() / "leaf").string();
        for (int s = services_; s < services_ + count; ++s) {
            std::string service = "svc-" + std::to_string(s);
            reg_.set_service(service, replicas_per_service);
            for (int r = 0; r < replicas_per_service; ++r) {
                reg_.container_added(service, std::to_string(r), leaf);
                reg_.replica_state(service, std::to_string(r), "running");
            }
        }
        services_ += count;
        bool refreshed = false;
        collector_.refresh([&] { refreshed = true; });
        io_.run();
        ASSERT_TRUE(refreshed);
        io_.restart(); // running out of work stopped the io_context
    }

    std::size_t container_count() const {
        return static_cast<std::size_t>(services_) * replicas_per_service;
    }

    // Runs `f` on the loop thread, waits for it, returns what it returned.
    template <typename F> auto run_on_loop(F f) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        boost::asio::post(io_, [&task] { task(); });
        return result.get();
    }

    void TearDown() override {
        if (loop_.joinable()) {
            if (server_) {
                run_on_loop([&] { server_->close(); });
            }
            guard_.reset();
            io_.stop();
            loop_.join();
        }
        server_.reset();
    }

    // Listens on 127.0.0.1, any port, and runs the loop. The default limits are berth's own
    // (fleet_runner::open_metrics gives none).
    void start(http::limits lim = {}) {
        auto s = http::server::listen_tcp(io_, "127.0.0.1", 0, endpoint_.handler(), lim);
        ASSERT_TRUE(s) << s.error().message();
        server_ = std::move(*s);
        port_ = server_->local_port();
        guard_.emplace(io_.get_executor());
        loop_ = std::thread([this] { io_.run(); });
    }

    std::size_t connections() {
        return run_on_loop([&] { return server_->connections(); });
    }

    // A scrape of a fresh connection, checked whole: 200, the exposition's media type, as long
    // as its Content-Length says, every container's series in it.
    void expect_complete_scrape(const std::optional<reply>& r) {
        ASSERT_TRUE(r) << "no complete answer to GET /metrics";
        EXPECT_EQ(r->status, 200u);
        EXPECT_EQ(r->content_type, exposition_content_type);
        EXPECT_EQ(r->content_length, r->body.size());
        EXPECT_TRUE(r->body.ends_with("\n"));
        auto cpu = std::string("\nberth_container_cpu_usage_seconds_total{");
        EXPECT_EQ(count_of(r->body, cpu), container_count());
    }

    testing::temp_dir tmp_;
    boost::asio::io_context io_;
    registry reg_{states()};
    // Never started, as before berth's first cycle: the endpoint gets it as in berth
    // (fleet_runner::open_metrics), and the registry changes only when a test says so.
    collector collector_{io_, reg_};
    endpoint endpoint_{reg_, &collector_};
    std::unique_ptr<http::server> server_;
    std::uint16_t port_ = 0;
    int services_ = 0;

private:
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    std::thread loop_;
};

TEST_F(metrics_endpoint_robustness, the_exposition_is_large_and_well_formed) {
    start();
    auto r = fetch(port_, "/metrics");
    expect_complete_scrape(r);
    ASSERT_TRUE(r);
    EXPECT_GT(r->body.size(), std::size_t{3} << 20) << "the tests below need megabytes";
    EXPECT_EQ(malformed_line(r->body), std::nullopt);
    auto e = testing::parse(r->body);
    EXPECT_TRUE(e.errors.empty()) << e.errors.front();
    EXPECT_EQ(e.find("berth_container_memory_usage_bytes").size(), container_count());
    EXPECT_EQ(e.find("berth_service_desired_replicas").size(), std::size_t{30});
}

// The most a TCP socket's send buffer may grow to (tcp_wmem's maximum; 4 MiB by default).
std::size_t send_buffer_max() {
    std::ifstream in("/proc/sys/net/ipv4/tcp_wmem");
    std::size_t low = 0, initial = 0, max = 0;
    in >> low >> initial >> max;
    return in ? max : std::size_t{4} << 20;
}

// A scraper that sends GET /metrics and then reads nothing, and one that reads a byte every
// 250 ms: their responses (twice what the kernel's send buffer may hold, and a 4 KiB receive
// window) stay unfinished. Meanwhile other clients' requests are answered at once, and the
// stalled connections are closed at the server's timeout, their responses cut off.
TEST_F(metrics_endpoint_robustness, stalled_readers_are_cut_off_at_the_timeout_others_served) {
    constexpr auto timeout = 4s;
    const std::size_t exposition_bytes = reg_.scrape().size();
    const std::size_t wanted = 2 * send_buffer_max() + (1 << 20);
    const auto more = (wanted - std::min(wanted, exposition_bytes)) * services_ / exposition_bytes;
    add_services(static_cast<int>(more) + 1);
    start(http::limits{.timeout = timeout});
    auto silent = connect_tcp(port_, 4096);
    auto trickling = connect_tcp(port_, 4096);
    ASSERT_TRUE(silent && trickling);
    ASSERT_TRUE(send_all(silent.get(), request("GET", "/metrics")));
    ASSERT_TRUE(send_all(trickling.get(), request("GET", "/metrics")));
    const auto sent = clock_type::now();
    std::atomic<bool> slow{true};
    auto trickled = std::async(std::launch::async, [&] {
        return drain(trickling.get(), 3 * timeout + 10s, 1, 250ms, &slow);
    });

    for (int i = 0; i < 5; ++i) {
        auto before = clock_type::now();
        auto health = fetch(port_, "/healthz");
        ASSERT_TRUE(health) << "round " << i;
        EXPECT_EQ(health->status, 200u);
        EXPECT_EQ(health->body, "ok\n");
        EXPECT_LT(clock_type::now() - before, 1s) << "/healthz, round " << i;
        before = clock_type::now();
        expect_complete_scrape(fetch(port_, "/metrics"));
        EXPECT_LT(clock_type::now() - before, 2s) << "/metrics, round " << i;
    }
    EXPECT_LT(clock_type::now() - sent, timeout) << "the requests above waited for the stalled";
    EXPECT_GE(connections(), 2u) << "the stalled readers should still be connected";

    bool closed = eventually([&] { return connections() == 0; }, timeout + 10s);
    const auto cut_after = clock_type::now() - sent;
    slow = false; // what the kernel still holds for the trickling reader: read it at once
    EXPECT_TRUE(closed) << "the stalled connections outlived the timeout by 10 s";
    EXPECT_GE(cut_after, timeout - 100ms) << "closed before the timeout";

    auto rest = drain(silent.get(), 10s);
    EXPECT_TRUE(rest.ended) << "the silent reader's connection did not end";
    EXPECT_EQ(rest.bytes.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << rest.bytes.substr(0, 200);
    ASSERT_GT(declared_size(rest.bytes), 0u) << rest.bytes.substr(0, 400);
    EXPECT_LT(rest.bytes.size(), declared_size(rest.bytes))
        << "the silent reader got the whole response: the kernel's buffers held it, so this "
           "test did not stall the write";
    auto trickle = trickled.get();
    EXPECT_TRUE(trickle.ended) << "the trickling reader's connection did not end";
    EXPECT_LT(trickle.bytes.size(), declared_size(trickle.bytes));

    auto after = fetch(port_, "/healthz");
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, 200u);
}

// 32 clients scrape at once, twice each on a keep-alive connection, while another one asks
// /healthz again and again: every scrape is complete, well formed and the same as the others
// (the registry does not change; only berth's own RSS and uptime are read at each scrape).
TEST_F(metrics_endpoint_robustness, thirty_two_parallel_scrapers_get_the_same_exposition) {
    start();
    constexpr int scrapers = 32;
    constexpr int rounds = 2;
    std::latch go(scrapers + 1);
    std::atomic<int> running{scrapers};
    std::vector<std::vector<std::optional<reply>>> got(scrapers);
    std::vector<std::thread> threads;
    for (int i = 0; i < scrapers; ++i) {
        threads.emplace_back([&, i] {
            auto fd = connect_tcp(port_);
            go.arrive_and_wait();
            for (int round = 0; round < rounds && fd; ++round) {
                if (!send_all(fd.get(), request("GET", "/metrics", round + 1 == rounds))) {
                    break;
                }
                got[i].push_back(read_reply(fd.get(), false, 60s));
            }
            --running;
        });
    }
    go.arrive_and_wait();
    int health_checks = 0;
    int health_failures = 0;
    auto slowest_health = clock_type::duration::zero();
    do {
        auto before = clock_type::now();
        auto health = fetch(port_, "/healthz", 5s);
        slowest_health = std::max(slowest_health, clock_type::now() - before);
        ++health_checks;
        if (!health || health->status != 200 || health->body != "ok\n") {
            ++health_failures;
        }
        std::this_thread::sleep_for(10ms);
    } while (running.load() > 0);
    for (auto& t : threads) {
        t.join();
    }

    EXPECT_EQ(health_failures, 0) << "of " << health_checks << " /healthz requests";
    EXPECT_LT(slowest_health, 2s) << "the slowest /healthz during the scrapes";
    ASSERT_EQ(got[0].size(), std::size_t{rounds});
    ASSERT_TRUE(got[0][0]) << "scraper 0 got no complete answer";
    const auto& first = got[0][0]->body;
    EXPECT_EQ(malformed_line(first), std::nullopt);
    auto e = testing::parse(first);
    EXPECT_TRUE(e.errors.empty()) << e.errors.front();
    const auto reference = without_per_scrape_values(first);
    for (int i = 0; i < scrapers; ++i) {
        ASSERT_EQ(got[i].size(), std::size_t{rounds}) << "scraper " << i;
        for (int round = 0; round < rounds; ++round) {
            SCOPED_TRACE("scraper " + std::to_string(i) + ", round " + std::to_string(round));
            expect_complete_scrape(got[i][round]);
            if (got[i][round]) {
                EXPECT_EQ(got[i][round]->keep_alive, round + 1 < rounds);
                EXPECT_TRUE(without_per_scrape_values(got[i][round]->body) == reference)
                    << "this scrape differs from scraper 0's first";
            }
        }
    }
}

// Scrapes while the registry changes under them, as berth's loop changes it between two
// pieces of a body: readings stored by a refresh cycle, containers removed and added again,
// replicas changing state. Every body is complete and well formed: each family one group, no
// series twice, no container more than once.
TEST_F(metrics_endpoint_robustness, scrapes_while_the_registry_changes_are_well_formed) {
    start();
    const auto leaf = (tmp_.path() / "leaf").string();
    std::atomic<bool> churning{true};
    std::thread churn([&] {
        for (int i = 0; churning; ++i) {
            std::string service = "svc-" + std::to_string(i % services_);
            std::string replica = std::to_string((i * 7) % replicas_per_service);
            boost::asio::post(io_, [this, service, replica, leaf, i] {
                reg_.container_removed(service, replica);
                reg_.container_added(service, replica, leaf);
                reg_.replica_state(service, replica, i % 2 == 0 ? "ready" : "running");
                if (i % 2 == 1) {
                    reg_.service_restarted(service);
                }
                if (i % 100 == 0) {
                    collector_.refresh();
                }
            });
            std::this_thread::sleep_for(100us);
        }
    });
    constexpr int scrapers = 8;
    constexpr int rounds = 4;
    std::vector<std::vector<std::optional<reply>>> got(scrapers);
    std::vector<std::thread> threads;
    for (int i = 0; i < scrapers; ++i) {
        threads.emplace_back([&, i] {
            for (int round = 0; round < rounds; ++round) {
                got[i].push_back(fetch(port_, "/metrics", 30s));
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    churning = false;
    churn.join();

    for (int i = 0; i < scrapers; ++i) {
        for (int round = 0; round < rounds; ++round) {
            SCOPED_TRACE("scraper " + std::to_string(i) + ", round " + std::to_string(round));
            const auto& r = got[i][round];
            ASSERT_TRUE(r) << "no complete answer";
            EXPECT_EQ(r->status, 200u);
            EXPECT_EQ(r->content_length, r->body.size());
            EXPECT_EQ(malformed_line(r->body), std::nullopt);
            auto e = testing::parse(r->body);
            EXPECT_TRUE(e.errors.empty())
                << e.errors.size() << " errors, the first: " << e.errors.front();
            auto containers = e.find("berth_container_cpu_usage_seconds_total").size();
            EXPECT_LE(containers, container_count());
            EXPECT_GT(containers, container_count() / 2);
            EXPECT_EQ(e.find("berth_service_desired_replicas").size(),
                      static_cast<std::size_t>(services_));
        }
    }
}

// Pipelined requests on one connection are answered in order, /metrics ones included.
TEST_F(metrics_endpoint_robustness, pipelined_requests_are_answered_in_order) {
    start();
    auto fd = connect_tcp(port_);
    ASSERT_TRUE(fd);
    ASSERT_TRUE(send_all(
        fd.get(), request("GET", "/metrics", false) + request("GET", "/healthz", false) +
                      request("HEAD", "/metrics", false) + request("GET", "/nope", false) +
                      request("POST", "/metrics", false, "x") + request("GET", "/metrics", true)));
    std::string pending;
    expect_complete_scrape(read_reply(fd.get(), pending));
    auto health = read_reply(fd.get(), pending);
    ASSERT_TRUE(health) << "no answer to the pipelined GET /healthz";
    EXPECT_EQ(health->status, 200u);
    EXPECT_EQ(health->body, "ok\n");
    auto head = read_reply(fd.get(), pending, true);
    ASSERT_TRUE(head) << "no answer to the pipelined HEAD /metrics";
    EXPECT_EQ(head->status, 200u);
    EXPECT_EQ(head->content_type, exposition_content_type);
    auto nope = read_reply(fd.get(), pending);
    ASSERT_TRUE(nope) << "no answer to the pipelined GET /nope";
    EXPECT_EQ(nope->status, 404u);
    auto post = read_reply(fd.get(), pending);
    ASSERT_TRUE(post) << "no answer to the pipelined POST /metrics";
    EXPECT_EQ(post->status, 405u);
    auto last = read_reply(fd.get(), pending);
    expect_complete_scrape(last);
    ASSERT_TRUE(last);
    EXPECT_FALSE(last->keep_alive);
    EXPECT_EQ(pending, "") << "bytes after the last response";
    EXPECT_TRUE(drain(fd.get(), 10s).ended) << "the connection stayed open";
}

// A request that arrives a few bytes at a time, with pauses, is answered once complete; the
// loop answers another client while it is still incomplete.
TEST_F(metrics_endpoint_robustness, a_request_in_small_pieces_is_answered_others_meanwhile) {
    start();
    auto fd = connect_tcp(port_);
    ASSERT_TRUE(fd);
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); // pieces go as pieces
    const std::string req = request("GET", "/metrics?pieces=1", true, "",
                                    "User-Agent: pieces/1.0\r\nAccept: text/plain\r\n");
    bool answered_meanwhile = false;
    for (std::size_t at = 0; at < req.size(); at += 5) {
        ASSERT_TRUE(send_all(fd.get(), req.substr(at, 5))) << "at byte " << at;
        std::this_thread::sleep_for(20ms);
        if (at == 40) {
            auto health = fetch(port_, "/healthz", 2s);
            answered_meanwhile = health && health->status == 200;
        }
    }
    EXPECT_TRUE(answered_meanwhile) << "/healthz was not answered while a request was partial";
    auto r = read_reply(fd.get());
    expect_complete_scrape(r);
    fd.reset(); // the server lingers after "Connection: close" until the client closes
    EXPECT_TRUE(eventually([&] { return connections() == 0; }));
}

// Beyond berth's 8 KiB of request line and headers: 431 and the connection closed, whether
// the header comes at once or in pieces; just under the limit is served; so is everything
// after.
TEST_F(metrics_endpoint_robustness, an_oversized_request_header_is_431_and_the_loop_serves_on) {
    start();
    const std::size_t limit = http::limits{}.max_header_bytes;
    {
        auto fd = connect_tcp(port_);
        std::string big = "X-Pad: " + std::string(2 * limit, 'a') + "\r\n";
        ASSERT_TRUE(send_all(fd.get(), request("GET", "/metrics", false, "", big)));
        auto r = read_reply(fd.get());
        ASSERT_TRUE(r) << "no answer to an oversized header";
        EXPECT_EQ(r->status, 431u);
        EXPECT_EQ(r->body, R"({"error":"request header too large"})");
        EXPECT_FALSE(r->keep_alive);
        EXPECT_TRUE(drain(fd.get(), 10s).ended) << "the connection stayed open";
    }
    {
        // In 1 KiB pieces, never finished: the answer comes once the limit is crossed.
        auto fd = connect_tcp(port_);
        ASSERT_TRUE(send_all(fd.get(), "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: "));
        for (std::size_t sent = 0; sent <= limit + 1024; sent += 1024) {
            ASSERT_TRUE(send_all(fd.get(), std::string(1024, 'b')));
            std::this_thread::sleep_for(5ms);
        }
        auto r = read_reply(fd.get());
        ASSERT_TRUE(r) << "no answer to a header growing past the limit";
        EXPECT_EQ(r->status, 431u);
        EXPECT_TRUE(drain(fd.get(), 10s).ended) << "the connection stayed open";
    }
    {
        auto fd = connect_tcp(port_);
        std::string pad = "X-Pad: " + std::string(limit - 512, 'c') + "\r\n";
        ASSERT_TRUE(send_all(fd.get(), request("GET", "/healthz", true, "", pad)));
        auto r = read_reply(fd.get());
        ASSERT_TRUE(r) << "no answer to a header just under the limit";
        EXPECT_EQ(r->status, 200u);
        EXPECT_EQ(r->body, "ok\n");
    }
    expect_complete_scrape(fetch(port_, "/metrics"));
    auto health = fetch(port_, "/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200u);
    EXPECT_TRUE(eventually([&] { return connections() == 0; }));
}

// Scrapers that hang up in the middle of the response (a reset, unread data pending) or right
// after sending the request: the server drops them and serves on.
TEST_F(metrics_endpoint_robustness, scrapers_that_hang_up_mid_response_leave_it_serving) {
    start();
    for (int i = 0; i < 8; ++i) {
        auto fd = connect_tcp(port_, 4096);
        ASSERT_TRUE(fd);
        ASSERT_TRUE(send_all(fd.get(), request("GET", "/metrics", i % 2 == 0)));
        if (i % 4 != 3) {
            ASSERT_TRUE(readable_before(fd.get(), clock_type::now() + 10s)) << "client " << i;
            char buf[1000];
            EXPECT_GT(::recv(fd.get(), buf, sizeof buf, 0), 0) << "client " << i;
        }
        linger reset{1, 0}; // close sends RST
        ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    EXPECT_TRUE(eventually([&] { return connections() == 0; }))
        << connections() << " connections are left";
    expect_complete_scrape(fetch(port_, "/metrics"));
    auto health = fetch(port_, "/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200u);
}

// Over TCP on one keep-alive connection: unknown paths are 404, other methods on /metrics and
// /healthz 405, neither closes the connection; HEAD /metrics has GET's headers and no body.
TEST_F(metrics_endpoint_robustness, unknown_paths_are_404_other_methods_405_over_tcp) {
    start();
    auto fd = connect_tcp(port_);
    ASSERT_TRUE(fd);
    struct exchange {
        const char* method;
        const char* target;
        const char* body;
        unsigned status;
    };
    const exchange exchanges[] = {
        {"GET", "/nope", "", 404},
        {"GET", "/", "", 404},
        {"GET", "/metrics/", "", 404},
        {"GET", "/healthz/x", "", 404},
        {"POST", "/elsewhere", "x", 404},
        {"POST", "/metrics", "x=1", 405},
        {"PUT", "/healthz", "up", 405},
        {"DELETE", "/metrics", "", 405},
        {"OPTIONS", "/metrics", "", 405},
        {"PATCH", "/healthz", "{}", 405},
        {"GET", "/healthz?probe=1", "", 200},
    };
    for (const auto& x : exchanges) {
        SCOPED_TRACE(std::string(x.method) + " " + x.target);
        ASSERT_TRUE(send_all(fd.get(), request(x.method, x.target, false, x.body)));
        auto r = read_reply(fd.get());
        ASSERT_TRUE(r) << "no answer";
        EXPECT_EQ(r->status, x.status);
        EXPECT_TRUE(r->keep_alive) << "the connection should live on";
        EXPECT_EQ(r->content_type, "text/plain; charset=utf-8");
        if (x.status == 404) {
            EXPECT_NE(r->body.find("/metrics"), std::string::npos) << r->body;
        } else if (x.status == 405) {
            EXPECT_NE(r->body.find(std::string("method ") + x.method), std::string::npos)
                << r->body;
            EXPECT_EQ(r->allow, "GET, HEAD");
        } else {
            EXPECT_EQ(r->allow, "");
        }
    }

    ASSERT_TRUE(send_all(fd.get(), request("HEAD", "/metrics", false)));
    auto head = read_reply(fd.get(), true);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200u);
    EXPECT_EQ(head->content_type, exposition_content_type);
    EXPECT_TRUE(head->body.empty());
    ASSERT_TRUE(head->content_length);
    ASSERT_TRUE(send_all(fd.get(), request("GET", "/metrics")));
    auto get = read_reply(fd.get());
    expect_complete_scrape(get);
    ASSERT_TRUE(get);
    // Only the digits of berth's RSS and uptime may differ between the two.
    EXPECT_NEAR(static_cast<double>(*head->content_length), static_cast<double>(get->body.size()),
                32.0);
    EXPECT_TRUE(drain(fd.get(), 10s).ended) << "no stray body bytes, then the close";
}

} // namespace
} // namespace berth::metrics
