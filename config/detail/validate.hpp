// Internal to config/: checks across entries, once every file has decoded: references to
// images and services, and dependency cycles.
#pragma once

#include "config/detail/decode_fleet.hpp"
#include "config/fleet.hpp"

#include <string>
#include <vector>

namespace berth::config::detail {

// Every name that has an entry, including entries that failed to decode (a reference to a
// broken entry is not also an unknown reference). Sorted.
struct declared_names {
    std::vector<std::string> services;
    std::vector<std::string> images;
};

// refs[i] belongs to f.services[i]; f.services holds broken services too (decode_service's
// `broken`), so that their references are checked as well. Reports unknown images, unknown
// services in after and requires, and every dependency cycle among f's services (one
// diagnostic per strongly connected component, printing one cycle through it:
// "web -> db -> web").
void validate_references(reporter& report, const fleet& f, const std::vector<service_refs>& refs,
                         const declared_names& declared);

} // namespace berth::config::detail
