// Replica expansion: what differs between web/0, web/1, ... of one service. The placeholders
// {service} (the service's name) and {replica} (the 0-based index) are substituted in the
// hostname, env values and volume sources; nothing else in a service varies per replica.
#pragma once

#include "config/fleet.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::config {

// The environment variables berth adds to every replica (user env may not set BERTH_*).
inline constexpr std::string_view env_service = "BERTH_SERVICE";
inline constexpr std::string_view env_replica = "BERTH_REPLICA";

struct replica {
    std::string id; // "web/0": also the replica's cgroup path below the supervisor's root
    std::uint32_t index = 0;
    std::optional<std::string> hostname;
    // The service's env with placeholders substituted, plus BERTH_SERVICE and BERTH_REPLICA.
    std::map<std::string, std::string> env;
    std::vector<volume> volumes; // sources substituted

    friend bool operator==(const replica&, const replica&) = default;
};

// Replica `index` of s. Any index is valid (the supervisor may scale past s.replicas); for
// indexes below 100000 the hostname and volume names are valid (the loader checked them).
replica expand_replica(const service& s, std::uint32_t index);

// text with every {service} and {replica} replaced; other braces are left alone.
std::string expand_placeholders(std::string_view text, std::string_view service_name,
                                std::uint32_t index);

// Why text is not a valid template (a '{' or '}' that is not part of {service} or
// {replica}), if it is not. For hostnames and volume names, where braces are otherwise
// invalid.
std::optional<std::string> check_placeholders(std::string_view text);

} // namespace berth::config
