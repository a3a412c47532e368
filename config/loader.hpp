// Loading a fleet: read the TOML file and its includes, decode, validate. Never throws, never
// stops at the first problem: every error of every file comes back as a diagnostic.
#pragma once

#include "config/diagnostic.hpp"
#include "config/fleet.hpp"

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

namespace berth::config {

struct load_options {
    // false: an `include` key is an error and no file is read (for untrusted text, fuzzing).
    bool follow_includes = true;
};

struct load_result {
    // Set iff diagnostics is empty: a partially valid fleet is never returned.
    std::optional<config::fleet> fleet;
    // Sorted by file (in load order), then line and column.
    std::vector<diagnostic> diagnostics;
    // Every file that was read, main file first (for load_fleet_from_string: its name), then
    // includes depth-first in pattern order (a reload watches these).
    std::vector<std::filesystem::path> files;

    bool ok() const noexcept { return fleet.has_value(); }
};

// Loads the fleet file at path. Relative include patterns resolve against the including
// file's directory. Files larger than max_file_size are rejected.
load_result load_fleet(const std::filesystem::path& path, load_options options = {}) noexcept;

// Loads a fleet from text; `name` is the file name diagnostics use, and its directory is
// where relative includes resolve (the current directory when it has none).
load_result load_fleet_from_string(std::string_view text, std::string_view name,
                                   load_options options = {}) noexcept;

// The largest fleet file berth reads: 64 MiB.
inline constexpr std::size_t max_file_size = 64u << 20;

// The services in an order that starts every service after all the services it lists in
// `after` and `requires` (ties broken by name); stop in the reverse order. Precondition:
// f came from the loader (so the dependencies exist and have no cycle).
std::vector<const service*> start_order(const fleet& f);

} // namespace berth::config
