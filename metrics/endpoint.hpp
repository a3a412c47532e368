// The HTTP side of the metrics: GET /metrics and GET /healthz as an http::handler on the loop.
#pragma once

#include "engine/http_server.hpp"
#include "metrics/collector.hpp"
#include "metrics/registry.hpp"

#include <string_view>

namespace berth::metrics {

// The exposition's media type (Prometheus text format 0.0.4).
inline constexpr std::string_view exposition_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

// Answers one request, synchronously on the loop:
//   GET /metrics  200, the registry's latest snapshot (registry::scrape); also tells the
//                 collector, when given, that someone reads it (collector::scraped)
//   GET /healthz  200 "ok\n"
//   other paths   404; a known path with another method: 405 (HEAD is GET without the body,
//                 which the server drops)
// The query string is ignored. Holds references: `reg` and `coll` must outlive the server.
class endpoint {
public:
    explicit endpoint(registry& reg, collector* coll = nullptr) noexcept : reg_(reg), coll_(coll) {}

    http::response operator()(const http::request& req) const;

    // The same as an http::handler to give http::server::listen_tcp / listen_unix.
    http::handler handler() const;

private:
    registry& reg_;
    collector* coll_;
};

} // namespace berth::metrics
