// The metrics endpoint: routing GET /metrics and GET /healthz.
#include "metrics/endpoint.hpp"

#include "engine/log.hpp"

#include <exception>

namespace berth::metrics {
namespace {

http::response plain(unsigned status, std::string body) {
    http::response r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(body);
    return r;
}

} // namespace

http::response endpoint::operator()(const http::request& req) const {
    std::string_view path(req.target);
    path = path.substr(0, path.find('?'));
    bool get = req.method == "GET" || req.method == "HEAD";
    if (path == "/metrics") {
        if (!get) {
            return plain(405, "method " + req.method + " not allowed on /metrics; use GET\n");
        }
        if (coll_ != nullptr) {
            coll_->scraped();
        }
        http::response r;
        r.content_type = std::string(exposition_content_type);
        try {
            r.body = reg_.scrape();
        } catch (const std::exception& e) {
            log::get("metrics")->error("scrape: {}", e.what());
            return plain(500, "scrape failed: " + std::string(e.what()) + "\n");
        }
        return r;
    }
    if (path == "/healthz") {
        if (!get) {
            return plain(405, "method " + req.method + " not allowed on /healthz; use GET\n");
        }
        return plain(200, "ok\n");
    }
    return plain(404, "no such path: " + std::string(path) + " (try /metrics or /healthz)\n");
}

http::handler endpoint::handler() const {
    return [self = *this](const http::request& req) { return self(req); };
}

} // namespace berth::metrics
