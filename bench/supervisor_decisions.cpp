// The supervisor's decisions, without I/O: a crash-looping replica's restart decision (one
// lifecycle step), and a reload's plan for a 10,000-service fleet in which one service changed,
// beside the cost of loading that fleet file (the reload's other half) in the same run.
#include "config/loader.hpp"
#include "supervisor/lifecycle.hpp"
#include "supervisor/reload.hpp"

#include <benchmark/benchmark.h>

#include <sstream>

namespace lc = berth::lifecycle;

namespace {

void restart_decision(benchmark::State& state) {
    lc::policy p;
    p.restart = lc::restart_policy::always;
    p.start_limit_burst = ~0u;
    lc::replica_status st;
    std::mt19937 rng(1);
    auto now = lc::clock::now();
    lc::step(p, st, {lc::event_kind::up}, now, rng);
    lc::step(p, st, {lc::event_kind::exec_ok}, now, rng);
    lc::event exited{lc::event_kind::exited, {false, "exited 1"}, {}};
    lc::event timer{lc::event_kind::timer};
    lc::event exec_ok{lc::event_kind::exec_ok};
    for (auto _ : state) {
        // exit -> backoff (the decision), then timer -> starting, exec -> ready: one crash loop
        auto acts = lc::step(p, st, exited, now, rng);
        benchmark::DoNotOptimize(acts);
        lc::step(p, st, timer, now, rng);
        lc::step(p, st, exec_ok, now, rng);
        now += std::chrono::milliseconds(1);
    }
    state.SetLabel("one exit -> backoff decision, plus the restart's two steps");
}
BENCHMARK(restart_decision);

std::string fleet_text(int services, const std::string& changed_command) {
    std::ostringstream out;
    out << "[image.base]\nlayers = [\"/layers/base\"]\n\n";
    for (int i = 0; i < services; ++i) {
        out << "[service.s" << i << "]\nimage = \"base\"\n";
        out << "command = [\"" << (i == services / 2 ? changed_command : "/bin/sleep")
            << "\", \"1000\"]\n\n";
    }
    return out.str();
}

constexpr int fleet_size = 10'000;

void reload_plan_10k(benchmark::State& state) {
    auto before = berth::config::load_fleet_from_string(fleet_text(fleet_size, "/bin/sleep"), "a");
    auto after = berth::config::load_fleet_from_string(fleet_text(fleet_size, "/bin/true"), "b");
    if (!before.ok() || !after.ok()) {
        state.SkipWithError("fleet did not load");
        return;
    }
    std::size_t changes = 0;
    for (auto _ : state) {
        auto plan = berth::plan_reload(*before.fleet, *after.fleet);
        changes = plan.size();
        benchmark::DoNotOptimize(plan);
    }
    state.counters["changes"] = static_cast<double>(changes);
}
BENCHMARK(reload_plan_10k)->Unit(benchmark::kMillisecond);

void reload_load_10k(benchmark::State& state) {
    auto text = fleet_text(fleet_size, "/bin/true");
    for (auto _ : state) {
        auto r = berth::config::load_fleet_from_string(text, "b");
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(reload_load_10k)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
