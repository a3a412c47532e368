// Internal to config/: TOML quoting, key paths and "did you mean" suggestions.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace berth::config::detail {

// How much of a user-supplied string a message shows before cutting it with "...".
inline constexpr std::size_t shown_bytes = 64;

// text as a TOML basic string ("..." with escapes). limit > 0 cuts the content at a UTF-8
// boundary after about limit bytes and appends "..." after the closing quote.
std::string quote(std::string_view text, std::size_t limit = 0);

// A key as TOML writes it: bare when it is [A-Za-z0-9_-]+, quoted otherwise. limit as quote.
std::string key_text(std::string_view key, std::size_t limit = 0);

// "parent.key" for diagnostics (key shortened to shown_bytes); just key when parent is empty.
std::string join_key(std::string_view parent, std::string_view key);

// "; did you mean 'x'?" for the candidate closest to word (optimal string alignment
// distance of at most a third of word's length, minimum 1; else the only candidate that is a
// prefix of word or has word as a prefix), or "" when none is close.
std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

} // namespace berth::config::detail
