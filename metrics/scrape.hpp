// A scrape's body built in pieces across loop turns, and shared by every scrape that asks
// while it is being built or while it is fresh.
//
// At 10,000 containers the exposition is ~12 MB, and writing it is 6-9 ms of CPU here: one
// loop turn for the whole would hold every exit, start and control request behind it, and a
// body per scraper would cost N times that in time and memory. So:
//
//   scrape_builder  writes the body in steps: first the supervisor-wide series (prometheus-cpp,
//                   a few dozen), then the per-service families, then the per-container ones,
//                   each family's lines taken from every entity in turn; a step ends once its
//                   budget is spent, and the next goes on from a cursor (family, entity key).
//   shared_scrape   runs the steps on the loop, one per turn (asio::post: every completion that
//                   became ready meanwhile runs between two steps), and hands the finished body
//                   as one immutable std::string to every scrape that asked meanwhile.
//
// Between two steps the tables may change (a refresh batch, an exit): a step finds its place
// again by key, so every family still forms one group and no series appears twice; an entity
// added behind the cursor is missing from the family being written and present in the later
// ones, and a family's lines may come from a newer reading than the previous family's.
//
// A finished body is shared (no new build) with a scrape that asks while the body is still
// being written to some client, if it is fresh: the registry's generation is still the one
// the build started at (no supervisor event, no completed refresh since) and it started less
// than share_for ago. Whatever the freshness, at most max_bodies bodies exist at once
// (counting the one being built): beyond that a scrape gets the newest body as it is. Memory
// thus stays bounded by max_bodies bodies, however many scrapers there are.
#pragma once

#include "metrics/registry.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace berth::metrics {

// One exposition, written in steps. The same bytes as registry::scrape (which runs every step
// at once) when the registry does not change in between. Loop thread only; the registry must
// outlive the builder.
class scrape_builder {
public:
    // `size_hint`: the size of a recent body, reserved (with room to grow) at once; 0: the
    // tables' rendered text is measured instead (a walk over every container, ~1 ms at 10,000
    // with cold caches).
    explicit scrape_builder(registry& reg, std::size_t size_hint = 0) noexcept
        : reg_(reg), size_hint_(size_hint) {}

    // Writes the next piece, until `budget` is spent; true when the body is complete. Throws
    // std::bad_alloc only (the build is then to be abandoned).
    bool step(text::piece_budget& budget);

    // The body (complete once step returned true).
    std::string take() noexcept { return std::move(body_); }
    std::size_t size() const noexcept { return body_.size(); }

private:
    enum class part { supervisor, services, containers, done };

    void begin();

    registry& reg_;
    std::size_t size_hint_;
    part part_ = part::supervisor;
    service_table::text_cursor services_at_;
    container_table::text_cursor containers_at_;
    std::string body_;
};

struct scrape_options {
    std::chrono::microseconds piece_budget{500}; // one step's share of a loop turn
    std::chrono::milliseconds share_for{1000};   // a fresh body serves later scrapes this long
    std::size_t max_bodies = 2;                  // bodies alive at once, at most (>= 1)
};

// What the scrapes cost: counted over the shared_scrape's life.
struct scrape_stats {
    std::uint64_t builds = 0; // bodies built
    std::uint64_t joined = 0; // scrapes that asked while a body was being built
    std::uint64_t reused = 0; // scrapes given a finished body
    std::uint64_t failed = 0; // builds abandoned (out of memory)
    std::size_t last_bytes = 0;
    std::size_t last_pieces = 0;               // loop turns the latest build took
    std::chrono::nanoseconds last_build{0};    // its wall time, first step's start to last's end
    std::chrono::nanoseconds longest_piece{0}; // the longest a step held the loop (wall)
    std::chrono::nanoseconds longest_piece_cpu{0}; // the most CPU time one step used
};

class shared_scrape {
public:
    using body = std::shared_ptr<const std::string>;
    // Receives the body; nullptr when the build failed (logged).
    using delivery = std::function<void(body)>;

    // Steps are posted to `io`; without one (nullptr), a build runs whole inside get(). `reg`
    // must outlive this object, which must not outlive `io`.
    shared_scrape(boost::asio::io_context* io, registry& reg, scrape_options opts = {});
    ~shared_scrape();
    shared_scrape(const shared_scrape&) = delete;
    shared_scrape& operator=(const shared_scrape&) = delete;

    // Calls `deliver` on the loop with a body: a shared one at once (inside this call), or
    // once the build in progress, or a new one, is complete. Deliveries still waiting when
    // this object goes are dropped, not called.
    void get(delivery deliver) noexcept;

    // Bodies that exist now: handed out and still referenced, plus one being built.
    std::size_t bodies() noexcept;
    bool building() const noexcept { return build_.has_value(); }
    const scrape_stats& stats() const noexcept { return stats_; }

private:
    using clock = std::chrono::steady_clock;

    // A body handed out, for sharing and for counting what exists.
    struct handed {
        std::weak_ptr<const std::string> text;
        std::uint64_t generation;
        clock::time_point started;
    };

    body shareable(clock::time_point now) noexcept;
    void begin_build(clock::time_point now) noexcept;
    void post_step() noexcept;
    void run_step() noexcept;
    void finish(body b) noexcept;
    void forget_released() noexcept;

    boost::asio::io_context* io_;
    registry& reg_;
    scrape_options opts_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true); // posted steps check it
    std::optional<scrape_builder> build_;
    std::uint64_t build_generation_ = 0;
    clock::time_point build_started_;
    std::size_t build_pieces_ = 0;
    std::vector<delivery> waiting_;
    std::vector<handed> handed_; // oldest first
    scrape_stats stats_;
};

} // namespace berth::metrics
