// Per-container series: the latest reading of each container's cgroup statistics, and its
// sample lines rendered when that reading was taken, so a scrape never reads a cgroup.
#pragma once

#include "engine/cgroup.hpp"
#include "engine/result.hpp"
#include "metrics/text.hpp"

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace berth::metrics {

// One reading of a container's cgroup statistics. nullopt: the file is absent (its controller
// is not enabled for the cgroup) or could not be read; its series are then left out.
struct container_stats {
    std::optional<cgroup::cpu_stat> cpu;
    std::optional<std::uint64_t> memory_current;
    std::optional<std::uint64_t> memory_peak;
    std::optional<cgroup::memory_events> memory_events;
    std::optional<std::uint64_t> pids_current;
    std::optional<cgroup::io_stat> io;
};

struct stats_reading {
    container_stats stats;
    std::size_t errors = 0; // files that exist but could not be read or parsed
    std::optional<berth::error> first_error;
};

// Reads cpu.stat, memory.current, memory.peak, memory.events, pids.current and io.stat from
// the directory `dir` with the engine's readers (any directory holding such files will do).
// Synchronous: six small reads of cgroupfs, 40-50 µs of CPU in all on the developers'
// machines. Absent files are no error.
stats_reading read_container_stats(const std::string& dir);

// The families of the per-container series, in the order a scrape writes them.
inline constexpr std::size_t container_family_count = 12;
extern const std::array<text::family, container_family_count> container_families;

// The containers the supervisor has announced, ordered by (service, replica). Not
// thread-safe: used on the loop only.
class container_table {
public:
    struct entry {
        std::string service;
        std::string replica;
        std::string cgroup_path;
        std::string labels;        // service="...",replica="..." (escaped)
        container_stats stats;     // the latest reading
        bool read_once = false;    // `stats` holds a reading (series exist)
        bool error_logged = false; // the first read error of this container was logged
        text::segments<container_family_count> lines;
    };

    // The position of a refresh cycle: the last container it visited.
    using cursor = std::optional<std::pair<std::string, std::string>>;

    // Adds a container, or moves a known one to a new cgroup path (its last reading stays until
    // the next refresh). Its series appear with its first reading.
    void add(std::string_view service, std::string_view replica, std::string cgroup_path);

    // Forgets a container: its series are gone from the next scrape. False when unknown.
    bool remove(std::string_view service, std::string_view replica) noexcept;

    std::size_t size() const noexcept { return entries_.size(); }
    const entry* find(std::string_view service, std::string_view replica) const noexcept;

    // The first container after `at` in (service, replica) order (the very first for nullopt),
    // or nullptr at the end. Containers added or removed in between are handled: the walk goes
    // on from wherever `at` would sort.
    entry* next_after(const cursor& at) noexcept;

    // Stores a reading in `e` and renders its sample lines.
    static void update(entry& e, container_stats stats);

    // Appends every per-container family that has a sample, with its header.
    void append_text(std::string& out) const;

    // The same in pieces: appends from `at` on until `budget` is spent (false; call again with
    // the same cursor, the table may change meanwhile) or everything is written (true).
    using text_cursor = text::family_cursor<std::pair<std::string, std::string>>;
    bool append_text(std::string& out, text_cursor& at, text::piece_budget& budget) const;

    // The bytes of sample lines append_text writes, headers left out.
    std::size_t text_size() const noexcept;

private:
    struct key_less {
        using is_transparent = void;
        using view = std::pair<std::string_view, std::string_view>;
        static view of(const view& v) noexcept { return v; }
        static view of(const std::pair<std::string, std::string>& k) noexcept {
            return {k.first, k.second};
        }
        template <typename A, typename B> bool operator()(const A& a, const B& b) const noexcept {
            return of(a) < of(b);
        }
    };

    std::map<std::pair<std::string, std::string>, std::unique_ptr<entry>, key_less> entries_;
};

} // namespace berth::metrics
