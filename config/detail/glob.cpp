// Include-pattern expansion: component-wise directory listing with fnmatch-style matching.
#include "config/detail/glob.hpp"

#include "config/detail/text.hpp"

#include <algorithm>
#include <system_error>

namespace berth::config::detail {
namespace {

namespace fs = std::filesystem;

// "[...]" at pattern[p] (p at '['): whether c is in the class; p moves past ']'. Returns
// nullopt (p unchanged) when the class is not closed, so '[' is then a literal.
std::optional<bool> match_class(std::string_view pattern, std::size_t& p, char c) {
    std::size_t i = p + 1;
    const bool negate = i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^');
    i += negate ? 1 : 0;
    bool found = false;
    bool first = true;
    while (i < pattern.size() && (first || pattern[i] != ']')) {
        const char low = pattern[i];
        if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
            found = found || (c >= low && c <= pattern[i + 2]);
            i += 3;
        } else {
            found = found || c == low;
            ++i;
        }
        first = false;
    }
    if (i >= pattern.size()) {
        return std::nullopt;
    }
    p = i + 1;
    return found != negate;
}

// Whether the pattern element at p (not '*') matches c; p moves past the element.
bool match_one(std::string_view pattern, std::size_t& p, char c) {
    const char pc = pattern[p];
    if (pc == '?') {
        ++p;
        return true;
    }
    if (pc == '[') {
        if (auto in_class = match_class(pattern, p, c)) {
            return *in_class;
        }
    }
    if (pc == '\\' && p + 1 < pattern.size()) {
        ++p;
    }
    return pattern[p++] == c;
}

std::vector<std::string> list_matches(const fs::path& dir, std::string_view pattern,
                                      bool want_directories, std::string& error) {
    std::vector<std::string> names;
    std::error_code ec;
    fs::directory_iterator it(dir.empty() ? fs::path(".") : dir, ec);
    if (ec) {
        if (ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
            error = "read directory " + quote(dir.string()) + ": " + ec.message();
        }
        return names;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!glob_match(pattern, name)) {
            continue;
        }
        std::error_code status_ec;
        const bool keep = want_directories ? fs::is_directory(it->path(), status_ec)
                                           : fs::is_regular_file(it->path(), status_ec);
        if (keep) {
            names.push_back(name);
        }
    }
    if (ec) {
        error = "read directory " + quote(dir.string()) + ": " + ec.message();
    }
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace

bool has_wildcard(std::string_view pattern) {
    return pattern.find_first_of("*?[") != std::string_view::npos;
}

bool glob_match(std::string_view pattern, std::string_view name) {
    if (!name.empty() && name.front() == '.' && (pattern.empty() || pattern.front() != '.')) {
        return false;
    }
    std::size_t p = 0;
    std::size_t n = 0;
    std::size_t star_p = std::string_view::npos;
    std::size_t star_n = 0;
    while (n < name.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star_p = ++p;
            star_n = n;
            continue;
        }
        std::size_t next = p;
        if (p < pattern.size() && match_one(pattern, next, name[n])) {
            p = next;
            ++n;
            continue;
        }
        if (star_p == std::string_view::npos) {
            return false;
        }
        p = star_p;
        n = ++star_n;
    }
    while (p < pattern.size() && pattern[p] == '*') {
        ++p;
    }
    return p == pattern.size();
}

glob_result expand_glob(const fs::path& pattern) {
    std::vector<std::string> parts;
    fs::path base;
    for (const auto& part : pattern) {
        if (part.has_root_directory() || part.has_root_name()) {
            base /= part;
        } else if (!part.empty()) {
            parts.push_back(part.string());
        }
    }
    glob_result result;
    std::vector<fs::path> current{base};
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const bool last = i + 1 == parts.size();
        std::vector<fs::path> next;
        for (const fs::path& dir : current) {
            if (!has_wildcard(parts[i])) {
                next.push_back(dir / parts[i]);
                continue;
            }
            for (const std::string& name : list_matches(dir, parts[i], !last, result.error)) {
                next.push_back(dir / name);
            }
        }
        current = std::move(next);
    }
    for (const fs::path& file : current) {
        std::error_code ec;
        if (fs::is_regular_file(file, ec)) {
            result.files.push_back(file);
        }
    }
    return result;
}

} // namespace berth::config::detail
