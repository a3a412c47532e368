// Internal to config/: a pre-parse scan that keeps toml++ 3.3 away from inputs it mishandles.
//
// 1. Depth. toml++ limits nested arrays and inline tables (256) but not dotted keys, and it
//    frees a table tree recursively, so "a.a.a....a = 1" with 50,000 segments overflows the
//    stack (measured). The scan bounds the parts of each key (max_key_dots + 1) and the
//    bracket depth (max_brackets), so a text it accepts nests a few thousand tables at most.
// 2. Non-ASCII code points where toml++ tests for whitespace. Its
//    is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable() for most code points
//    from U+00A1 (toml++ issue #190, fixed after 3.3): undefined behaviour. toml++ makes that
//    test on every code point it reads outside string contents and comments, and after a
//    backslash in a multi-line basic string. Outside strings and comments non-ASCII is never
//    valid TOML 1.0, so rejecting it there loses nothing; after such a backslash (a
//    line-ending backslash, then blank space) it is rejected too.
//
// To know what toml++ reads as a string, the scan follows TOML's token structure (key,
// value, bare value, string, comment) closely enough that, on any text, whatever it skips as
// a string is read as a string by toml++ too (or toml++ has stopped at an error before).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace berth::config::detail {

inline constexpr std::size_t max_key_dots = 32;
inline constexpr std::size_t max_brackets = 64;

struct parse_hazard {
    int line = 0;   // 1-based
    int column = 0; // 1-based, in code points (as toml++ counts)
    std::string message;
};

// The first place where text would nest too deeply or trip toml++, if any.
std::optional<parse_hazard> check_before_parse(std::string_view text);

} // namespace berth::config::detail
