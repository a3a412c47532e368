// Per-service series: desired and running replicas, replicas by state, restarts and exits,
// kept as counts the supervisor's events update and rendered at each change.
#pragma once

#include "metrics/text.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::metrics {

// Why a container's main process ended, for berth_service_exits_total{reason}.
enum class exit_reason { code, signal, oom };

inline constexpr std::size_t service_family_count = 5;
extern const std::array<text::family, service_family_count> service_families;

// The services the supervisor has announced, ordered by name. Not thread-safe: loop only.
class service_table {
public:
    // `states`: every state a replica can be in (each gets a berth_service_replicas sample, 0
    // included); `running_states`: the subset counted by berth_service_running_replicas.
    service_table(std::vector<std::string> states, std::vector<std::string> running_states);

    // Creates the service if needed and sets its desired replica count.
    void set_desired(std::string_view service, std::uint32_t desired);

    // Forgets a service and its replicas: its series are gone from the next scrape.
    bool remove(std::string_view service) noexcept;

    // Records the state a replica is now in. False (and nothing changes) for a state that is
    // not one of `states`.
    bool set_replica_state(std::string_view service, std::string_view replica,
                           std::string_view state);

    // Forgets one replica's state (the replica was removed). False when unknown.
    bool remove_replica(std::string_view service, std::string_view replica);

    void count_restart(std::string_view service);
    void count_exit(std::string_view service, exit_reason reason);

    // Appends every per-service family that has a sample, with its header.
    void append_text(std::string& out) const;

    // The same in pieces: appends from `at` on until `budget` is spent (false; call again with
    // the same cursor, the table may change meanwhile) or everything is written (true).
    using text_cursor = text::family_cursor<std::string>;
    bool append_text(std::string& out, text_cursor& at, text::piece_budget& budget) const;

    // The bytes of sample lines append_text writes, headers left out.
    std::size_t text_size() const noexcept;

    std::size_t size() const noexcept { return services_.size(); }

private:
    struct entry {
        std::string labels; // service="..." (escaped)
        std::optional<std::uint32_t> desired;
        std::map<std::string, std::size_t, std::less<>> replica_state; // replica -> state index
        std::vector<std::uint32_t> in_state;                           // by state index
        std::uint32_t running = 0;
        std::uint64_t restarts = 0;
        std::array<std::uint64_t, 3> exits{}; // by exit_reason
        text::segments<service_family_count> lines;
    };

    entry& get(std::string_view service);
    void render(entry& e) const;

    std::vector<std::string> states_;
    std::vector<std::string> state_labels_; // state="..." for each state
    std::vector<bool> running_;             // by state index
    std::map<std::string, entry, std::less<>> services_;
};

} // namespace berth::metrics
