// Unit tests of the metrics endpoint: routing (200, 404, 405) with the handler called
// directly, then a real scrape over TCP on 127.0.0.1 through engine/http_server, checked by
// `promtool check metrics` when promtool is installed.
#include "metrics/endpoint.hpp"
#include "tests/metrics/exposition.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>

namespace berth::metrics {
namespace {

using namespace std::chrono_literals;
using testing::fake_cgroup;

using testing::states;

http::request request(std::string method, std::string target) {
    http::request r;
    r.method = std::move(method);
    r.target = std::move(target);
    return r;
}

TEST(metrics_endpoint, get_metrics_is_the_exposition) {
    registry reg(states());
    reg.set_service("web", 1);
    endpoint ep(reg);
    auto res = ep(request("GET", "/metrics"));
    EXPECT_EQ(res.status, 200u);
    EXPECT_EQ(res.content_type, "text/plain; version=0.0.4; charset=utf-8");
    auto e = testing::parse(res.body);
    EXPECT_TRUE(e.errors.empty()) << e.errors.front();
    EXPECT_EQ(e.value("berth_service_desired_replicas", {{"service", "web"}}), 1.0);
    EXPECT_TRUE(e.has_family("berth_build_info"));

    auto with_query = ep(request("GET", "/metrics?name[]=berth_build_info"));
    EXPECT_EQ(with_query.status, 200u);
    EXPECT_TRUE(testing::parse(with_query.body).has_family("berth_build_info"));

    EXPECT_EQ(ep(request("HEAD", "/metrics")).status, 200u);
}

TEST(metrics_endpoint, healthz_says_ok) {
    registry reg(states());
    endpoint ep(reg);
    auto res = ep(request("GET", "/healthz"));
    EXPECT_EQ(res.status, 200u);
    EXPECT_EQ(res.body, "ok\n");
}

TEST(metrics_endpoint, unknown_paths_are_404_and_other_methods_405) {
    registry reg(states());
    endpoint ep(reg);
    for (const char* target : {"/", "/metric", "/metrics/", "/healthz/x", "/favicon.ico", ""}) {
        auto res = ep(request("GET", target));
        EXPECT_EQ(res.status, 404u) << target;
        EXPECT_NE(res.body.find("/metrics"), std::string::npos) << "says where to look";
    }
    EXPECT_EQ(ep(request("POST", "/nope")).status, 404u);
    for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
        EXPECT_EQ(ep(request(method, "/metrics")).status, 405u) << method;
        EXPECT_EQ(ep(request(method, "/healthz")).status, 405u) << method;
    }
}

TEST(metrics_endpoint, a_scrape_resumes_a_paused_collector) {
    registry reg(states());
    boost::asio::io_context io;
    collector_options opts;
    opts.interval = 1ms;
    opts.idle_after = 1ms;
    collector coll(io, reg, opts);
    coll.start();
    io.run();
    ASSERT_TRUE(coll.paused());
    endpoint ep(reg, &coll);
    EXPECT_EQ(ep(request("GET", "/healthz")).status, 200u);
    EXPECT_TRUE(coll.paused()) << "only /metrics counts as a scrape";
    EXPECT_EQ(ep(request("GET", "/metrics")).status, 200u);
    EXPECT_FALSE(coll.paused());
    coll.stop();
}

// One HTTP GET over TCP on the same loop the server runs on, with Beast as the client.
struct fetched {
    boost::system::error_code ec;
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

fetched http_get(boost::asio::io_context& io, std::uint16_t port, const std::string& target) {
    namespace bhttp = boost::beast::http;
    using boost::asio::ip::tcp;
    fetched out;
    tcp::socket sock(io);
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    req.keep_alive(false);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256u << 20);
    bool finished = false;
    sock.async_connect(
        tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port),
        [&](boost::system::error_code ec) {
            if (ec) {
                out.ec = ec;
                finished = true;
                return;
            }
            bhttp::async_write(sock, req, [&](boost::system::error_code wec, std::size_t) {
                if (wec) {
                    out.ec = wec;
                    finished = true;
                    return;
                }
                bhttp::async_read(sock, buf, parser,
                                  [&](boost::system::error_code rec, std::size_t) {
                                      out.ec = rec;
                                      finished = true;
                                  });
            });
        });
    for (int i = 0; !finished && i < 1000000 && !io.stopped(); ++i) {
        io.run_one_for(10s);
    }
    EXPECT_TRUE(finished) << "no answer from the server";
    if (!out.ec) {
        auto& res = parser.get();
        out.status = res.result_int();
        out.content_type = std::string(res[bhttp::field::content_type]);
        out.body = res.body();
    }
    return out;
}

std::string promtool_path() {
    for (const char* p : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
        if (::access(p, X_OK) == 0) {
            return p;
        }
    }
    return {};
}

TEST(metrics_endpoint, a_real_scrape_over_tcp_passes_promtool) {
    testing::temp_dir tmp;
    registry reg(states());
    boost::asio::io_context io;
    for (int s = 0; s < 3; ++s) {
        std::string svc = "svc-" + std::to_string(s);
        reg.set_service(svc, 4);
        for (int r = 0; r < 4; ++r) {
            auto replica = std::to_string(r);
            auto dir = tmp.path() / svc / replica;
            (r == 3 ? fake_cgroup::no_controllers() : fake_cgroup{}).write(dir);
            reg.container_added(svc, replica, dir.string());
            reg.replica_state(svc, replica, "starting");
            reg.replica_state(svc, replica, r == 0 ? "backoff" : "ready");
        }
        reg.service_restarted(svc);
        reg.container_exited(svc, exit_reason::signal, 30us);
    }
    reg.container_started({.spawn = 200us, .shim_setup = 1ms, .to_running = 2ms});
    reg.container_ready(5ms);
    reg.add_loop_completions(100);
    reg.set_pending_operations(3);
    collector coll(io, reg);
    bool refreshed = false;
    coll.refresh([&] { refreshed = true; });
    while (!refreshed) {
        io.run_one();
    }
    io.restart(); // running out of work stopped the io_context

    endpoint ep(reg, &coll);
    auto srv = http::server::listen_tcp(io, "127.0.0.1", 0, ep.handler());
    ASSERT_TRUE(srv.has_value()) << srv.error().message();
    std::uint16_t port = (*srv)->local_port();
    ASSERT_NE(port, 0);

    auto health = http_get(io, port, "/healthz");
    ASSERT_FALSE(health.ec) << health.ec.message();
    EXPECT_EQ(health.status, 200u);
    EXPECT_EQ(health.body, "ok\n");
    EXPECT_EQ(http_get(io, port, "/nothing").status, 404u);

    auto res = http_get(io, port, "/metrics");
    ASSERT_FALSE(res.ec) << res.ec.message();
    ASSERT_EQ(res.status, 200u);
    EXPECT_EQ(res.content_type, "text/plain; version=0.0.4; charset=utf-8");
    auto e = testing::parse(res.body);
    EXPECT_TRUE(e.errors.empty()) << e.errors.front();
    EXPECT_EQ(e.find("berth_container_cpu_usage_seconds_total").size(), 12u);
    EXPECT_EQ(e.find("berth_container_memory_usage_bytes").size(), 9u);
    EXPECT_EQ(e.value("berth_service_running_replicas", {{"service", "svc-1"}}), 3.0);
    (*srv)->close();

    auto promtool = promtool_path();
    if (promtool.empty()) {
        GTEST_SKIP() << "needs promtool (Debian package prometheus) to check the scrape; the "
                        "scrape itself was checked above";
    }
    auto file = tmp.path() / "scrape.txt";
    testing::write_file(file, res.body);
    auto report = tmp.path() / "promtool.txt";
    std::string cmd =
        promtool + " check metrics < '" + file.string() + "' > '" + report.string() + "' 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream in(report);
    std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_TRUE(WIFEXITED(rc)) << cmd;
    EXPECT_EQ(WEXITSTATUS(rc), 0) << "promtool check metrics:\n" << said;
    EXPECT_EQ(said, "") << "promtool reported lint problems";
}

} // namespace
} // namespace berth::metrics
