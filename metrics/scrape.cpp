// A scrape's body in pieces across loop turns, shared between concurrent scrapes.
#include "metrics/scrape.hpp"

#include "engine/log.hpp"

#include <time.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>

namespace berth::metrics {
namespace {

std::shared_ptr<spdlog::logger> logger() {
    return log::get("metrics");
}

std::chrono::nanoseconds thread_cpu_time() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

} // namespace

// The supervisor-wide series, and room for the rest: reserving it at once keeps the body from
// being copied as it grows (a 12 MB copy would be one long turn). The slack covers the family
// headers and some growth of the tables since the hint's body, or during the build.
void scrape_builder::begin() {
    body_ = reg_.supervisor_text();
    std::size_t rest = size_hint_;
    if (rest == 0) {
        rest = body_.size() + reg_.services().text_size() + reg_.containers().text_size();
    }
    body_.reserve(rest + rest / 8 + 65536);
}

bool scrape_builder::step(text::piece_budget& budget) {
    if (part_ == part::supervisor) {
        begin();
        part_ = part::services;
    }
    if (part_ == part::services) {
        if (!reg_.services().append_text(body_, services_at_, budget)) {
            return false;
        }
        part_ = part::containers;
    }
    if (part_ == part::containers) {
        if (!reg_.containers().append_text(body_, containers_at_, budget)) {
            return false;
        }
        part_ = part::done;
    }
    return true;
}

shared_scrape::shared_scrape(boost::asio::io_context* io, registry& reg, scrape_options opts)
    : io_(io), reg_(reg), opts_(opts) {
    opts_.max_bodies = std::max<std::size_t>(opts_.max_bodies, 1);
}

shared_scrape::~shared_scrape() = default;

void shared_scrape::get(delivery deliver) noexcept {
    try {
        if (build_) {
            waiting_.push_back(std::move(deliver));
            ++stats_.joined;
            return;
        }
        auto now = clock::now();
        if (body b = shareable(now)) {
            ++stats_.reused;
            deliver(std::move(b));
            return;
        }
        waiting_.push_back(std::move(deliver));
    } catch (const std::exception& e) {
        logger()->error("scrape: {}; the request gets no body", e.what());
        return;
    }
    begin_build(clock::now());
}

std::size_t shared_scrape::bodies() noexcept {
    forget_released();
    return handed_.size() + (build_ ? 1 : 0);
}

void shared_scrape::forget_released() noexcept {
    std::erase_if(handed_, [](const handed& h) { return h.text.expired(); });
}

// The newest body still referenced, when it is fresh or when no other body may be built.
shared_scrape::body shared_scrape::shareable(clock::time_point now) noexcept {
    forget_released();
    if (handed_.empty()) {
        return nullptr;
    }
    const handed& newest = handed_.back();
    bool fresh = newest.generation == reg_.generation() && now - newest.started < opts_.share_for;
    if (!fresh && handed_.size() < opts_.max_bodies) {
        return nullptr;
    }
    return newest.text.lock();
}

void shared_scrape::begin_build(clock::time_point now) noexcept {
    build_.emplace(reg_, stats_.last_bytes);
    build_generation_ = reg_.generation();
    build_started_ = now;
    build_pieces_ = 0;
    if (io_ == nullptr) {
        run_step();
    } else {
        post_step();
    }
}

void shared_scrape::post_step() noexcept {
    try {
        boost::asio::post(*io_, [this, alive = std::weak_ptr<bool>(alive_)] {
            if (!alive.expired() && build_) {
                run_step();
            }
        });
    } catch (const std::exception& e) {
        logger()->error("scrape: cannot post the next piece: {}", e.what());
        ++stats_.failed;
        finish(nullptr);
    }
}

void shared_scrape::run_step() noexcept {
    auto begin = clock::now();
    auto cpu_begin = thread_cpu_time();
    bool done = false;
    body finished;
    try {
        if (io_ == nullptr) {
            text::piece_budget unlimited;
            done = build_->step(unlimited);
        } else {
            text::piece_budget budget(begin + opts_.piece_budget);
            done = build_->step(budget);
        }
        if (done) {
            finished = std::make_shared<const std::string>(build_->take());
        }
    } catch (const std::exception& e) {
        logger()->error("scrape: {}; the build is abandoned", e.what());
        ++stats_.failed;
        finish(nullptr);
        return;
    }
    auto took = clock::now() - begin;
    ++build_pieces_;
    stats_.longest_piece = std::max<std::chrono::nanoseconds>(stats_.longest_piece, took);
    stats_.longest_piece_cpu =
        std::max<std::chrono::nanoseconds>(stats_.longest_piece_cpu, thread_cpu_time() - cpu_begin);
    if (!done) {
        post_step();
        return;
    }
    ++stats_.builds;
    stats_.last_bytes = finished->size();
    stats_.last_pieces = build_pieces_;
    stats_.last_build = clock::now() - build_started_;
    try {
        handed_.push_back({finished, build_generation_, build_started_});
    } catch (const std::exception&) {
        // Not shared later, still delivered now.
    }
    finish(std::move(finished));
}

// Ends the build and hands `b` (null: failed) to every scrape that waited for it.
void shared_scrape::finish(body b) noexcept {
    build_.reset();
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& deliver : waiting) {
        try {
            deliver(b);
        } catch (const std::exception& e) {
            logger()->warn("scrape: delivering the body: {}", e.what());
        }
    }
}

} // namespace berth::metrics
