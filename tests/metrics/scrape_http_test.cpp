// Unit tests of the scrape's HTTP path over TCP on 127.0.0.1: engine/http_server's answers
// given later (http::async_handler, http::responder) and shared bodies written without a copy,
// then concurrent scrapes of the metrics endpoint getting one shared body.
#include "metrics/endpoint.hpp"
#include "tests/metrics/exposition.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <functional>
#include <memory>

namespace berth::metrics {
namespace {

using namespace std::chrono_literals;
namespace bhttp = boost::beast::http;
using boost::asio::ip::tcp;

// What one request over TCP brought back.
struct exchange {
    boost::system::error_code ec;
    bool done = false;
    unsigned status = 0;
    std::string content_type;
    std::optional<std::uint64_t> content_length;
    std::string body;
};

// Starts one request on `io` (Connection: close); the result fills in as the loop runs.
std::shared_ptr<exchange> fetch(boost::asio::io_context& io, std::uint16_t port,
                                bhttp::verb method = bhttp::verb::get,
                                const std::string& target = "/metrics") {
    struct op {
        explicit op(boost::asio::io_context& ctx) : sock(ctx) {}
        tcp::socket sock;
        boost::beast::flat_buffer buf;
        bhttp::request<bhttp::empty_body> req;
        bhttp::response_parser<bhttp::string_body> parser;
        std::shared_ptr<exchange> out = std::make_shared<exchange>();
    };
    auto o = std::make_shared<op>(io);
    o->req = {method, target, 11};
    o->req.set(bhttp::field::host, "127.0.0.1");
    o->req.keep_alive(false);
    o->parser.body_limit(256u << 20);
    o->parser.skip(method == bhttp::verb::head);
    auto finish = [o](boost::system::error_code ec) {
        o->out->ec = ec;
        o->out->done = true;
        if (!ec) {
            auto& res = o->parser.get();
            o->out->status = res.result_int();
            o->out->content_type = std::string(res[bhttp::field::content_type]);
            if (auto length = res.payload_size()) {
                o->out->content_length = *length;
            }
            if (res.has_content_length()) {
                o->out->content_length =
                    std::stoull(std::string(res[bhttp::field::content_length]));
            }
            o->out->body = std::move(res.body());
        }
    };
    o->sock.async_connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port),
                          [o, finish](boost::system::error_code ec) {
                              if (ec) {
                                  return finish(ec);
                              }
                              bhttp::async_write(
                                  o->sock, o->req,
                                  [o, finish](boost::system::error_code wec, std::size_t) {
                                      if (wec) {
                                          return finish(wec);
                                      }
                                      bhttp::async_read(o->sock, o->buf, o->parser,
                                                        [o, finish](boost::system::error_code rec,
                                                                    std::size_t) { finish(rec); });
                                  });
                          });
    return o->out;
}

// Runs the loop until every exchange is done (or a generous limit).
void run_until_done(boost::asio::io_context& io,
                    const std::vector<std::shared_ptr<exchange>>& all) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    auto pending = [&] {
        for (const auto& x : all) {
            if (!x->done) {
                return true;
            }
        }
        return false;
    };
    while (pending() && std::chrono::steady_clock::now() < deadline) {
        io.run_one_for(100ms);
    }
    EXPECT_FALSE(pending()) << "no answer from the server";
}

std::unique_ptr<http::server> listen(boost::asio::io_context& io, http::async_handler h,
                                     http::limits lim = {}) {
    auto srv = http::server::listen_tcp(io, "127.0.0.1", 0, std::move(h), lim);
    EXPECT_TRUE(srv.has_value()) << srv.error().message();
    return srv ? std::move(*srv) : nullptr;
}

TEST(http_server_async, an_answer_given_later_is_written) {
    boost::asio::io_context io;
    boost::asio::steady_timer later(io);
    auto srv = listen(io, [&](const http::request& req, http::responder reply) {
        later.expires_after(20ms);
        later.async_wait([reply, target = req.target](const boost::system::error_code&) {
            reply(http::response{200, "text/plain", "later: " + target + "\n", {}});
        });
    });
    ASSERT_TRUE(srv);
    auto x = fetch(io, srv->local_port(), bhttp::verb::get, "/x");
    run_until_done(io, {x});
    ASSERT_FALSE(x->ec) << x->ec.message();
    EXPECT_EQ(x->status, 200u);
    EXPECT_EQ(x->body, "later: /x\n");
}

TEST(http_server_async, a_request_dropped_unanswered_gets_500_and_a_second_answer_is_ignored) {
    boost::asio::io_context io;
    auto srv = listen(io, [&](const http::request& req, http::responder reply) {
        if (req.target == "/twice") {
            reply(http::response{200, "text/plain", "first\n", {}});
            reply(http::response{201, "text/plain", "second\n", {}});
            EXPECT_TRUE(reply.answered());
        }
        // "/drop": returns without answering and keeps no copy of `reply`.
    });
    ASSERT_TRUE(srv);
    auto dropped = fetch(io, srv->local_port(), bhttp::verb::get, "/drop");
    auto twice = fetch(io, srv->local_port(), bhttp::verb::get, "/twice");
    run_until_done(io, {dropped, twice});
    EXPECT_EQ(dropped->status, 500u);
    EXPECT_EQ(twice->status, 200u);
    EXPECT_EQ(twice->body, "first\n");
}

TEST(http_server_async, a_shared_body_goes_to_every_client_and_is_released_after) {
    boost::asio::io_context io;
    auto text = std::make_shared<std::string>();
    for (int i = 0; text->size() < (3u << 20); ++i) {
        *text += "line " + std::to_string(i) + " of a body shared by every client\n";
    }
    std::shared_ptr<const std::string> shared = std::move(text);
    long most_references = 0;
    http::limits lim;
    lim.max_write_bytes = 4096; // many small writes, still the same bytes
    auto srv = listen(
        io,
        [&](const http::request&, http::responder reply) {
            reply(http::shared_response{200, "text/plain", shared, {}});
            most_references = std::max(most_references, shared.use_count());
        },
        lim);
    ASSERT_TRUE(srv);
    std::vector<std::shared_ptr<exchange>> all;
    for (int i = 0; i < 4; ++i) {
        all.push_back(fetch(io, srv->local_port()));
    }
    all.push_back(fetch(io, srv->local_port(), bhttp::verb::head));
    run_until_done(io, all);
    for (int i = 0; i < 4; ++i) {
        ASSERT_FALSE(all[i]->ec) << all[i]->ec.message();
        EXPECT_EQ(all[i]->status, 200u);
        EXPECT_TRUE(all[i]->body == *shared) << "client " << i << " got other bytes";
    }
    EXPECT_EQ(all[4]->status, 200u);
    EXPECT_EQ(all[4]->content_length, shared->size()) << "HEAD: the GET's length, no body";
    EXPECT_TRUE(all[4]->body.empty());
    EXPECT_GT(most_references, 1) << "the server holds the body itself, not a copy";
    for (int i = 0; i < 100 && shared.use_count() > 1; ++i) {
        io.run_one_for(10ms); // the server's last write completions, after the clients' reads
    }
    EXPECT_EQ(shared.use_count(), 1) << "every written response released it";
}

TEST(http_server_async, an_answer_after_the_connection_closed_is_dropped_with_its_on_sent) {
    boost::asio::io_context io;
    std::optional<http::responder> kept;
    http::limits lim;
    lim.timeout = 50ms;
    auto srv = listen(
        io, [&](const http::request&, http::responder reply) { kept = std::move(reply); }, lim);
    ASSERT_TRUE(srv);
    auto x = fetch(io, srv->local_port());
    run_until_done(io, {x});
    EXPECT_TRUE(x->ec) << "the timeout closed the connection without an answer";
    ASSERT_TRUE(kept);
    bool sent = false;
    (*kept)(http::response{200, "text/plain", "too late\n", [&] { sent = true; }});
    EXPECT_TRUE(sent) << "on_sent runs once the response has failed to be written";
    kept.reset();
    EXPECT_EQ(srv->connections(), 0u);
}

registry::options states() {
    registry::options o;
    o.replica_states = {"running", "exited"};
    o.running_states = {"running"};
    return o;
}

TEST(metrics_scrape_http, concurrent_scrapes_over_tcp_get_one_shared_body) {
    testing::temp_dir tmp;
    registry reg(states());
    for (int s = 0; s < 20; ++s) {
        std::string svc = "svc-" + std::to_string(s);
        reg.set_service(svc, 50);
        for (int r = 0; r < 50; ++r) {
            std::string replica = std::to_string(r);
            auto dir = tmp.path() / svc / replica;
            if (s == 0 && r == 0) {
                testing::fake_cgroup{}.write(dir);
            } else {
                std::filesystem::create_directories(dir);
                std::filesystem::copy(tmp.path() / "svc-0" / "0", dir);
            }
            reg.container_added(svc, replica, dir.string());
            reg.replica_state(svc, replica, "running");
        }
    }
    boost::asio::io_context io;
    collector coll(io, reg);
    bool refreshed = false;
    coll.refresh([&] { refreshed = true; });
    while (!refreshed) {
        io.run_one();
    }
    io.restart();

    scrape_options opts;
    opts.piece_budget = 0us; // many pieces: the scrapes all arrive while the body is built
    endpoint ep(reg, &coll, opts);
    auto srv = listen(io, ep.handler());
    ASSERT_TRUE(srv);
    std::vector<std::shared_ptr<exchange>> all;
    for (int i = 0; i < 8; ++i) {
        all.push_back(fetch(io, srv->local_port()));
    }
    run_until_done(io, all);
    for (const auto& x : all) {
        ASSERT_FALSE(x->ec) << x->ec.message();
        EXPECT_EQ(x->status, 200u);
        EXPECT_EQ(x->content_type, "text/plain; version=0.0.4; charset=utf-8");
        EXPECT_TRUE(x->body == all.front()->body) << "the same body for every scraper";
    }
    auto e = testing::parse(all.front()->body);
    EXPECT_TRUE(e.errors.empty()) << e.errors.front();
    EXPECT_EQ(e.find("berth_container_memory_events_total").size(), 20u * 50u * 4u);
    const auto& st = ep.scrape_statistics();
    EXPECT_EQ(st.builds, 1u) << "joined " << st.joined << ", reused " << st.reused;
    EXPECT_EQ(st.joined + st.reused, 7u);
    EXPECT_GT(st.last_pieces, 10u);

    // After an event the next scrape builds a body that shows it.
    reg.replica_state("svc-3", "7", "exited");
    auto after = fetch(io, srv->local_port());
    run_until_done(io, {after});
    EXPECT_EQ(testing::parse(after->body)
                  .value("berth_service_replicas", {{"service", "svc-3"}, {"state", "exited"}}),
              1.0);
    EXPECT_EQ(ep.scrape_statistics().builds, 2u);

    // Through the endpoint's handler, a HEAD and the other paths answer as before.
    auto head = fetch(io, srv->local_port(), bhttp::verb::head);
    auto health = fetch(io, srv->local_port(), bhttp::verb::get, "/healthz");
    auto missing = fetch(io, srv->local_port(), bhttp::verb::get, "/nothing");
    auto post = fetch(io, srv->local_port(), bhttp::verb::post, "/metrics");
    run_until_done(io, {head, health, missing, post});
    EXPECT_EQ(head->status, 200u);
    EXPECT_TRUE(head->body.empty());
    EXPECT_GT(head->content_length.value_or(0), 100000u);
    EXPECT_EQ(health->body, "ok\n");
    EXPECT_EQ(missing->status, 404u);
    EXPECT_EQ(post->status, 405u);
}

TEST(metrics_scrape_http, a_scrape_waiting_when_the_endpoint_goes_gets_500) {
    registry reg(states());
    for (int r = 0; r < 300; ++r) {
        reg.set_service("svc-" + std::to_string(r), 1);
    }
    boost::asio::io_context io;
    collector coll(io, reg);
    scrape_options opts;
    opts.piece_budget = 0us; // ~100 pieces
    auto ep = std::make_unique<endpoint>(reg, &coll, opts);
    auto srv = listen(io, ep->handler());
    ASSERT_TRUE(srv);
    auto x = fetch(io, srv->local_port());
    for (int i = 0; i < 10000 && ep->scrape_statistics().longest_piece == 0ns; ++i) {
        io.run_one_for(1s); // until the first piece of the body has run
    }
    ASSERT_EQ(ep->scrape_statistics().builds, 0u) << "still building";
    ep.reset(); // the waiting scrape's responder goes with it
    run_until_done(io, {x});
    EXPECT_EQ(x->status, 500u);

    auto later = fetch(io, srv->local_port());
    run_until_done(io, {later});
    EXPECT_EQ(later->status, 503u) << "the handler outlives the endpoint harmlessly";
}

} // namespace
} // namespace berth::metrics
