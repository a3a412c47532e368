// The HTTP side of the metrics: GET /metrics and GET /healthz as an http handler on the loop.
#pragma once

#include "engine/http_server.hpp"
#include "metrics/collector.hpp"
#include "metrics/registry.hpp"
#include "metrics/scrape.hpp"

#include <memory>
#include <string_view>

namespace berth::metrics {

// The exposition's media type (Prometheus text format 0.0.4).
inline constexpr std::string_view exposition_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

// Answers requests on the loop:
//   GET /metrics  200, the registry's latest snapshot; also tells the collector, when given,
//                 that someone reads it (collector::scraped)
//   GET /healthz  200 "ok\n"
//   other paths   404; a known path with another method: 405 (HEAD is GET without the body,
//                 which the server drops)
// The query string is ignored. Holds references: `reg` and `coll` must outlive the endpoint,
// which must outlive its handler's use (the handler answers 503 once the endpoint is gone).
//
// Through handler(), a /metrics body is built in pieces across loop turns on the collector's
// io_context and shared between the scrapes that ask while it is built or fresh
// (metrics/scrape.hpp, `opts`); without a collector it is built whole when asked, and still
// shared. Copies of an endpoint share that state.
class endpoint {
public:
    explicit endpoint(registry& reg, collector* coll = nullptr, scrape_options opts = {});

    // Answers at once: a /metrics body is built whole inside this call (registry::scrape),
    // for this request only.
    http::response operator()(const http::request& req) const;

    // Answers through `reply`: /metrics once its shared body is complete (usually in a later
    // loop turn), everything else inside this call.
    void operator()(const http::request& req, const http::responder& reply) const;

    // The second form as a handler for http::server::listen_tcp / listen_unix.
    http::async_handler handler() const;

    // What the scrapes through the second form cost.
    const scrape_stats& scrape_statistics() const noexcept;

private:
    struct state;

    explicit endpoint(std::shared_ptr<state> s) noexcept : state_(std::move(s)) {}

    std::shared_ptr<state> state_;
};

} // namespace berth::metrics
