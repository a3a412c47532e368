// The normalized fleet as TOML: every key with its value or default, in schema order.
#pragma once

#include "config/fleet.hpp"

#include <string>

namespace berth::config {

// A self-contained TOML document (no include) that loads back to a fleet equal to f.
// Absent optional settings without a TOML spelling (cgroup_root) appear as comments.
std::string render_toml(const fleet& f);

} // namespace berth::config
