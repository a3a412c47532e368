// TOML quoting, key paths and nearest-key suggestions for diagnostics and rendering.
#include "config/detail/text.hpp"
#include "config/suggest.hpp"

#include <algorithm>
#include <vector>

namespace berth::config::detail {
namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";

void append_escaped(std::string& out, char c) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
    case '"':
        out += "\\\"";
        return;
    case '\\':
        out += "\\\\";
        return;
    case '\b':
        out += "\\b";
        return;
    case '\t':
        out += "\\t";
        return;
    case '\n':
        out += "\\n";
        return;
    case '\f':
        out += "\\f";
        return;
    case '\r':
        out += "\\r";
        return;
    default:
        break;
    }
    if (byte < 0x20 || byte == 0x7f) {
        out += "\\u00";
        out += hex_digits[byte >> 4];
        out += hex_digits[byte & 0xf];
        return;
    }
    out += c;
}

// The longest prefix of text of at most limit bytes that does not split a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view text, std::size_t limit) {
    if (text.size() <= limit) {
        return text;
    }
    std::size_t end = limit;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) {
        --end;
    }
    return text.substr(0, end);
}

bool is_bare_key(std::string_view key) {
    if (key.empty()) {
        return false;
    }
    return std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        previous[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                current[j] = std::min(current[j], before[j - 2] + 1);
            }
        }
        before.swap(previous);
        previous.swap(current);
    }
    return previous[b.size()];
}

// The only candidate that starts with word or that word starts with (3 characters at least in
// common): "warning" -> "warn". Empty when there is none or more than one.
std::string_view unique_prefix_match(std::string_view word,
                                     std::span<const std::string_view> candidates) {
    std::string_view found;
    for (std::string_view candidate : candidates) {
        const std::string_view shorter = candidate.size() < word.size() ? candidate : word;
        const std::string_view longer = candidate.size() < word.size() ? word : candidate;
        if (shorter.size() >= 3 && longer.starts_with(shorter)) {
            if (!found.empty() && found != candidate) {
                return {};
            }
            found = candidate;
        }
    }
    return found;
}

} // namespace

std::string quote(std::string_view text, std::size_t limit) {
    const std::string_view shown = limit > 0 ? utf8_prefix(text, limit) : text;
    std::string out = "\"";
    out.reserve(shown.size() + 2);
    for (char c : shown) {
        append_escaped(out, c);
    }
    out += '"';
    if (shown.size() < text.size()) {
        out += "...";
    }
    return out;
}

std::string key_text(std::string_view key, std::size_t limit) {
    if (is_bare_key(key) && (limit == 0 || key.size() <= limit)) {
        return std::string(key);
    }
    return quote(key, limit);
}

std::string join_key(std::string_view parent, std::string_view key) {
    std::string out(parent);
    if (!out.empty()) {
        out += '.';
    }
    out += key_text(key, shown_bytes);
    return out;
}

std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
    if (word.empty() || word.size() > shown_bytes) {
        return {};
    }
    const std::size_t allowed = std::max<std::size_t>(1, word.size() / 3);
    std::string_view best;
    std::size_t best_distance = allowed + 1;
    for (std::string_view candidate : candidates) {
        const std::size_t d = edit_distance(word, candidate);
        if (d < best_distance) {
            best = candidate;
            best_distance = d;
        }
    }
    if (best.empty()) {
        best = unique_prefix_match(word, candidates);
    }
    if (best.empty()) {
        return {};
    }
    return "; did you mean '" + std::string(best) + "'?";
}

} // namespace berth::config::detail

namespace berth::config {

std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
    return detail::did_you_mean(word, candidates);
}

} // namespace berth::config
