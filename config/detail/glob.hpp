// Internal to config/: include patterns (shell-style globs) expanded against the filesystem.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace berth::config::detail {

// True when pattern holds a wildcard: '*', '?' or '['.
bool has_wildcard(std::string_view pattern);

// fnmatch(3) without flags for one path component: '*', '?', "[abc]", "[a-z]", "[!x]" and
// '\' escapes. A leading '.' in name only matches a literal '.' in pattern.
bool glob_match(std::string_view pattern, std::string_view name);

struct glob_result {
    std::vector<std::filesystem::path> files; // sorted within each wildcard directory
    std::string error;                        // "read directory \"/x\": Permission denied"
};

// Every regular file (or symlink to one) matching pattern, an absolute or cwd-relative path
// whose components may hold wildcards ('**' is just '*'). Directories that do not exist
// match nothing; that is not an error.
glob_result expand_glob(const std::filesystem::path& pattern);

} // namespace berth::config::detail
