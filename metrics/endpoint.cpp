// The metrics endpoint: routing GET /metrics and GET /healthz.
#include "metrics/endpoint.hpp"

#include "engine/log.hpp"

#include <exception>
#include <optional>

namespace berth::metrics {

struct endpoint::state {
    state(registry& r, collector* c, scrape_options opts)
        : reg(r), coll(c), scrape(c != nullptr ? &c->io() : nullptr, r, opts) {}

    registry& reg;
    collector* coll;
    shared_scrape scrape;
};

namespace {

http::response plain(unsigned status, std::string body) {
    http::response r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(body);
    return r;
}

// 405 for a method other than GET or HEAD on `path`, with the Allow field HTTP asks for.
http::response only_get(const http::request& req, std::string_view path) {
    auto r =
        plain(405, "method " + req.method + " not allowed on " + std::string(path) + "; use GET\n");
    r.fields.emplace_back("Allow", "GET, HEAD");
    return r;
}

// The answer to every request but a scrape (GET or HEAD of /metrics); nullopt for a scrape.
std::optional<http::response> not_a_scrape(const http::request& req) {
    std::string_view path(req.target);
    path = path.substr(0, path.find('?'));
    bool get = req.method == "GET" || req.method == "HEAD";
    if (path == "/metrics") {
        if (!get) {
            return only_get(req, path);
        }
        return std::nullopt;
    }
    if (path == "/healthz") {
        if (!get) {
            return only_get(req, path);
        }
        return plain(200, "ok\n");
    }
    return plain(404, "no such path: " + std::string(path) + " (try /metrics or /healthz)\n");
}

} // namespace

endpoint::endpoint(registry& reg, collector* coll, scrape_options opts)
    : state_(std::make_shared<state>(reg, coll, opts)) {}

http::response endpoint::operator()(const http::request& req) const {
    if (auto other = not_a_scrape(req)) {
        return std::move(*other);
    }
    if (state_->coll != nullptr) {
        state_->coll->scraped();
    }
    http::response r;
    r.content_type = std::string(exposition_content_type);
    try {
        r.body = state_->reg.scrape();
    } catch (const std::exception& e) {
        log::get("metrics")->error("scrape: {}", e.what());
        return plain(500, "scrape failed: " + std::string(e.what()) + "\n");
    }
    return r;
}

void endpoint::operator()(const http::request& req, const http::responder& reply) const {
    if (auto other = not_a_scrape(req)) {
        reply(std::move(*other));
        return;
    }
    if (state_->coll != nullptr) {
        state_->coll->scraped();
    }
    state_->scrape.get([reply](shared_scrape::body body) {
        if (!body) {
            reply(plain(500, "scrape failed: out of memory\n"));
            return;
        }
        reply(
            http::shared_response{200, std::string(exposition_content_type), std::move(body), {}});
    });
}

http::async_handler endpoint::handler() const {
    return [weak = std::weak_ptr<state>(state_)](const http::request& req, http::responder reply) {
        auto s = weak.lock();
        if (!s) {
            reply(plain(503, "the metrics are gone: berth is shutting down\n"));
            return;
        }
        endpoint ep(s);
        ep(req, reply);
    };
}

const scrape_stats& endpoint::scrape_statistics() const noexcept {
    return state_->scrape.stats();
}

} // namespace berth::metrics
