// Internal to config/: decoding the fleet's tables (supervisor, image, service and their
// parts) into fleet.hpp structs. Cross-entry checks (references, cycles) are validate.hpp's.
#pragma once

#include "config/detail/decode.hpp"
#include "config/fleet.hpp"

#include <optional>
#include <string>
#include <vector>

namespace berth::config::detail {

// A name in a service's after or requires: where it is written and its index in the array
// (names that failed to decode are left out of the list, so the two can differ).
struct list_reference {
    location where;
    std::size_t index;
};

// Where a service refers to other entries, for the cross-entry checks.
struct service_refs {
    location self; // the service's name in its [service.NAME] header or dotted key
    std::string path;
    location image;
    bool command_given = false;           // the command key is present (valid or not)
    std::vector<list_reference> after;    // one per entry of service.after
    std::vector<list_reference> required; // one per entry of service.required
};

struct decoded_service {
    config::service service;
    service_refs refs;
    // The service's own keys had errors: its references are still checked, but it is left
    // out of the fleet (service holds the keys that did decode).
    bool broken = false;
};

// The [supervisor] keys (merged over every file, `include` already taken out).
supervisor_settings decode_supervisor(table_reader& reader);

// [image.NAME]; nullopt after reporting its errors.
std::optional<image> decode_image(reporter& report, const table_entry& entry);

// [service.NAME], broken when its keys had errors; nullopt after reporting an invalid name or
// a value that is not a table (nothing of it can be checked further).
std::optional<decoded_service> decode_service(reporter& report, const table_entry& entry);

// The parts of a service, each reading its keys from the service's table.
void decode_limits(const field& f, config::limits& out);
void decode_readiness(const field& f, config::readiness& out);
std::optional<std::map<std::string, std::string>> decode_env(const field& f);
std::optional<namespace_set> decode_namespaces(const field& f);
// Volumes; named volume names are checked against the longest expansion for `service_name`.
std::optional<std::vector<volume>> decode_volumes(const field& f, std::string_view service_name);

// Paths that end up in overlayfs mount options cannot hold its separators.
bool overlay_safe(std::string_view path);

// The replica index used to check that templates stay valid: the largest one allowed.
inline constexpr std::uint32_t largest_replica_index = 99'999;

} // namespace berth::config::detail
