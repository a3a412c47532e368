// Shared helpers for the config tests: temporary directories and loading from text.
#pragma once

#include "config/loader.hpp"
#include "tests/common/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace berth::config::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
using temp_dir = berth::test::temp_dir;

inline load_result load_text(std::string_view text, load_options options = {}) {
    return load_fleet_from_string(text, "fleet.toml", options);
}

// Every diagnostic's to_string().
inline std::vector<std::string> messages(const load_result& r) {
    std::vector<std::string> out;
    for (const auto& d : r.diagnostics) {
        out.push_back(d.to_string());
    }
    return out;
}

// The single service of a fleet that must load.
inline service only_service(std::string_view text) {
    auto r = load_text(text);
    EXPECT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    if (!r.ok() || r.fleet->services.size() != 1) {
        ADD_FAILURE() << "expected exactly one service";
        return {};
    }
    return r.fleet->services.front();
}

} // namespace berth::config::testing
