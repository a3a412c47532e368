// One problem found while loading a fleet, with where it is and what was expected.
#pragma once

#include <span>
#include <string>

namespace berth::config {

struct diagnostic {
    std::string file;     // as given to the loader or resolved from an include pattern
    int line = 0;         // 1-based; 0 when the problem has no position (unreadable file)
    int column = 0;       // 1-based, in code points (toml++'s convention)
    std::string key_path; // "service.web.limits.memory_max"; empty for syntax errors
    std::string message;  // "expected a size ..., got \"64X\": unknown unit \"X\" ..."

    // "FILE:LINE:COLUMN: KEY_PATH: MESSAGE", leaving out the parts that are empty or 0.
    std::string to_string() const;

    friend bool operator==(const diagnostic&, const diagnostic&) = default;
};

// Every diagnostic's to_string(), one per line, each ending in '\n'.
std::string format_diagnostics(std::span<const diagnostic> diagnostics);

} // namespace berth::config
