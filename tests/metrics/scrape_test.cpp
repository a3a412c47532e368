// Unit tests of the scrape built in pieces (metrics/scrape.hpp): the same bytes as one call,
// families kept whole while the tables change between pieces, other handlers running between
// pieces, one body shared by concurrent scrapes, freshness and the bound on bodies alive.
#include "metrics/scrape.hpp"
#include "tests/metrics/exposition.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <set>

namespace berth::metrics {
namespace {

using namespace std::chrono_literals;
using testing::parse;

registry::options states() {
    registry::options o;
    o.replica_states = {"starting", "running", "exited"};
    o.running_states = {"running"};
    return o;
}

// A reading as the collector would store it, every statistic present, values from `seed`.
container_stats reading(std::uint64_t seed) {
    container_stats s;
    s.cpu = cgroup::cpu_stat{};
    s.cpu->usage_usec = 1000 + seed;
    s.cpu->user_usec = 600 + seed;
    s.cpu->system_usec = 400;
    s.cpu->nr_periods = 10;
    s.cpu->nr_throttled = seed % 3;
    s.cpu->throttled_usec = 25 * seed;
    s.memory_current = 4096 * seed;
    s.memory_peak = 8192 * seed;
    s.memory_events = cgroup::memory_events{};
    s.memory_events->high = seed;
    s.pids_current = seed % 7;
    s.io = cgroup::io_stat{};
    s.io->rbytes = 512 * seed;
    s.io->wbytes = 1024 * seed;
    return s;
}

// Stores a reading for the container (service, replica), as a refresh does.
void store(registry& reg, const std::string& service, const std::string& replica,
           std::uint64_t seed) {
    for (auto* e = reg.containers().next_after(std::nullopt); e != nullptr;
         e = reg.containers().next_after(std::make_pair(e->service, e->replica))) {
        if (e->service == service && e->replica == replica) {
            container_table::update(*e, reading(seed));
            return;
        }
    }
    FAIL() << "no container " << service << "/" << replica;
}

// `services` services of `replicas` containers each, every container read once.
void fill(registry& reg, int services, int replicas) {
    for (int s = 0; s < services; ++s) {
        std::string svc = "svc-" + std::to_string(s);
        reg.set_service(svc, static_cast<std::uint32_t>(replicas));
        for (int r = 0; r < replicas; ++r) {
            std::string replica = std::to_string(r);
            reg.container_added(svc, replica, "/nonexistent/" + svc + "/" + replica);
            reg.replica_state(svc, replica, "running");
        }
    }
    std::uint64_t seed = 1;
    for (auto* e = reg.containers().next_after(std::nullopt); e != nullptr;
         e = reg.containers().next_after(std::make_pair(e->service, e->replica))) {
        container_table::update(*e, reading(seed++));
    }
}

// A budget already spent: every check of it ends the piece.
text::piece_budget spent_budget() {
    return text::piece_budget(text::piece_budget::clock::now() - 1s);
}

// The body's lines without the two process gauges a scrape reads anew each time.
std::string stable(const std::string& body) {
    std::string out;
    std::size_t i = 0;
    while (i < body.size()) {
        std::size_t end = body.find('\n', i);
        end = end == std::string::npos ? body.size() : end + 1;
        std::string_view line(body.data() + i, end - i);
        if (!line.starts_with("berth_process_resident_memory_bytes ") &&
            !line.starts_with("berth_uptime_seconds ")) {
            out.append(line);
        }
        i = end;
    }
    return out;
}

TEST(metrics_scrape, pieces_write_the_same_bytes_as_one_call) {
    registry reg(states());
    fill(reg, 7, 40);
    std::string whole = reg.scrape();

    scrape_builder build(reg);
    std::size_t steps = 0;
    for (bool done = false; !done; ++steps) {
        auto budget = spent_budget();
        done = build.step(budget);
        ASSERT_LT(steps, 100000u);
    }
    std::string pieces = build.take();
    EXPECT_GT(steps, 10u) << "a spent budget ends a piece every 16 entities";
    EXPECT_EQ(stable(pieces), stable(whole));
    auto e = parse(pieces);
    EXPECT_TRUE(e.errors.empty()) << e.errors.front();
    EXPECT_EQ(e.find("berth_container_memory_events_total").size(), 7u * 40u * 4u);
}

TEST(metrics_scrape, families_stay_whole_while_the_tables_change_between_pieces) {
    registry reg(states());
    fill(reg, 5, 30);
    scrape_builder build(reg);
    int step = 0;
    for (bool done = false; !done; ++step) {
        auto budget = spent_budget();
        done = build.step(budget);
        ASSERT_LT(step, 100000);
        // Between two pieces: containers come and go, readings change, services change.
        std::string svc = "svc-" + std::to_string(step % 5);
        std::string replica = std::to_string(step % 30);
        if (step % 3 == 0) {
            reg.container_removed(svc, replica);
        } else {
            reg.container_added(svc, replica, "/nonexistent");
            store(reg, svc, replica, 1000 + static_cast<std::uint64_t>(step));
        }
        reg.replica_state(svc, replica, step % 2 ? "exited" : "running");
        if (step == 7) {
            reg.set_service("aaa-new", 1);
            reg.service_removed("svc-4");
        }
    }
    // The parser fails on a family split in two groups and on a series written twice.
    auto e = parse(build.take());
    EXPECT_TRUE(e.errors.empty()) << e.errors.front();
    EXPECT_TRUE(e.has_family("berth_container_io_written_bytes_total"));
}

TEST(metrics_scrape, a_build_takes_several_loop_turns_with_other_handlers_between) {
    registry reg(states());
    fill(reg, 4, 50);
    boost::asio::io_context io;
    scrape_options opts;
    opts.piece_budget = 0us;
    shared_scrape scrape(&io, reg, opts);

    shared_scrape::body got;
    scrape.get([&](shared_scrape::body b) { got = std::move(b); });
    EXPECT_EQ(got, nullptr) << "delivered later, not inside get()";
    EXPECT_TRUE(scrape.building());

    // Another handler that posts itself again: it must run between the pieces.
    int other_runs = 0;
    std::function<void()> other = [&] {
        ++other_runs;
        if (!got) {
            boost::asio::post(io, other);
        }
    };
    boost::asio::post(io, other);
    io.run();
    ASSERT_NE(got, nullptr);
    EXPECT_GT(scrape.stats().last_pieces, 5u);
    EXPECT_GE(other_runs, static_cast<int>(scrape.stats().last_pieces) - 1);
    EXPECT_EQ(stable(*got), stable(reg.scrape()));
    EXPECT_EQ(scrape.stats().builds, 1u);
    EXPECT_EQ(scrape.stats().last_bytes, got->size());
}

TEST(metrics_scrape, scrapes_asking_during_a_build_share_its_body) {
    registry reg(states());
    fill(reg, 3, 50);
    boost::asio::io_context io;
    scrape_options opts;
    opts.piece_budget = 0us;
    shared_scrape scrape(&io, reg, opts);

    std::vector<shared_scrape::body> got;
    auto ask = [&] { scrape.get([&](shared_scrape::body b) { got.push_back(std::move(b)); }); };
    ask();
    for (int i = 0; i < 5; ++i) {
        io.poll_one(); // a piece or two, then the next scrape arrives
        ask();
    }
    io.run();
    ASSERT_EQ(got.size(), 6u);
    for (const auto& b : got) {
        EXPECT_EQ(b, got.front()) << "one buffer for all, not copies";
    }
    EXPECT_EQ(scrape.stats().builds, 1u);
    EXPECT_EQ(scrape.stats().joined, 5u);
    EXPECT_EQ(scrape.bodies(), 1u);
    got.clear();
    EXPECT_EQ(scrape.bodies(), 0u) << "released once every scrape has written it";
}

TEST(metrics_scrape, a_fresh_body_is_reused_while_written_and_a_change_builds_anew) {
    registry reg(states());
    fill(reg, 2, 10);
    boost::asio::io_context io;
    shared_scrape scrape(&io, reg);
    auto get = [&] {
        shared_scrape::body got;
        scrape.get([&](shared_scrape::body b) { got = std::move(b); });
        io.restart();
        io.run();
        return got;
    };

    auto first = get();
    ASSERT_NE(first, nullptr);
    auto second = get(); // `first` is still held: still being written to its client
    EXPECT_EQ(second, first);
    EXPECT_EQ(scrape.stats().reused, 1u);

    reg.replica_state("svc-1", "3", "exited"); // an event: the snapshot changed
    auto third = get();
    EXPECT_NE(third, first);
    EXPECT_EQ(
        parse(*third).value("berth_service_replicas", {{"service", "svc-1"}, {"state", "exited"}}),
        1.0);

    first.reset();
    second.reset();
    third.reset();
    reg.add_loop_completions(5); // the loop's figures do not change the generation
    auto fourth = get();
    EXPECT_EQ(scrape.stats().builds, 3u) << "nobody held the last body: built anew";
    EXPECT_EQ(parse(*fourth).value("berth_loop_completions_total"), 5.0);
}

TEST(metrics_scrape, a_body_older_than_share_for_is_not_reused) {
    registry reg(states());
    fill(reg, 1, 5);
    boost::asio::io_context io;
    scrape_options opts;
    opts.share_for = 0ms;
    shared_scrape scrape(&io, reg, opts);
    std::vector<shared_scrape::body> got;
    for (int i = 0; i < 2; ++i) {
        scrape.get([&](shared_scrape::body b) { got.push_back(std::move(b)); });
        io.restart();
        io.run();
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_NE(got[0], got[1]);
    EXPECT_EQ(scrape.stats().builds, 2u);
}

TEST(metrics_scrape, no_more_than_max_bodies_exist_however_many_scrapers) {
    registry reg(states());
    fill(reg, 2, 20);
    boost::asio::io_context io;
    scrape_options opts;
    opts.max_bodies = 2;
    shared_scrape scrape(&io, reg, opts);
    std::vector<shared_scrape::body> held; // slow clients: every body still being written
    for (int i = 0; i < 10; ++i) {
        reg.service_restarted("svc-0"); // never fresh
        scrape.get([&](shared_scrape::body b) { held.push_back(std::move(b)); });
        io.restart();
        io.run();
        EXPECT_LE(scrape.bodies(), 2u);
    }
    ASSERT_EQ(held.size(), 10u);
    std::set<const std::string*> distinct;
    for (const auto& b : held) {
        distinct.insert(b.get());
    }
    EXPECT_EQ(distinct.size(), 2u);
    EXPECT_EQ(scrape.stats().builds, 2u);
    EXPECT_EQ(held.back(), held[1]) << "beyond the bound: the newest body as it is";
}

TEST(metrics_scrape, without_an_io_context_a_build_runs_whole_inside_get) {
    registry reg(states());
    fill(reg, 2, 10);
    shared_scrape scrape(nullptr, reg);
    shared_scrape::body got;
    scrape.get([&](shared_scrape::body b) { got = std::move(b); });
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(stable(*got), stable(reg.scrape()));
    EXPECT_EQ(scrape.stats().last_pieces, 1u);
}

TEST(metrics_scrape, a_destroyed_scrape_leaves_only_harmless_handlers) {
    registry reg(states());
    fill(reg, 2, 30);
    boost::asio::io_context io;
    bool delivered = false;
    {
        scrape_options opts;
        opts.piece_budget = 0us;
        shared_scrape scrape(&io, reg, opts);
        scrape.get([&](shared_scrape::body) { delivered = true; });
        io.poll_one();
    }
    io.run(); // the posted piece finds its scrape gone
    EXPECT_FALSE(delivered);
}

} // namespace
} // namespace berth::metrics
