// Directory-tree helpers for the image and volume stores: opens that cannot leave a directory,
// whole-file reads and atomic replacement, removal and size of a tree.
#pragma once

#include "engine/result.hpp"
#include "engine/unique_fd.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::fs_tree {

// openat2(2) (Linux 5.6) relative to dir_fd with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS: a path that would leave dir_fd ("..", absolute) fails with EXDEV, a
// symlink anywhere on it with ELOOP. O_CLOEXEC is added. Error: "open 'PATH': <errno>".
result<unique_fd> open_beneath(int dir_fd, const std::string& path, int flags, mode_t mode = 0);

// openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: resolves as if dir_fd were the root
// directory, so symlinks are followed but absolute targets and ".." never leave it.
result<unique_fd> open_in_root(int dir_fd, const std::string& path, int flags);

// The whole content of a regular file opened with open_in_root, refused (EFBIG) past max bytes.
result<std::string> read_in_root(int dir_fd, const std::string& path, std::size_t max);

// Replaces path with text: a temporary file beside it, fsync, rename, fsync of the directory,
// so a reader sees the old or the new content and a crash leaves one of them.
status write_file_atomic(const std::string& path, std::string_view text);

// Removes path and everything below it without following any symlink; a missing path is
// success.
status remove_tree(const std::string& path);

// Bytes of the regular files below path (st_size, a file with several hard links counted
// once); unreadable entries are skipped.
std::uint64_t tree_bytes(const std::string& path);

// True when path (canonical) is base or lies below it (both canonical, no trailing '/').
bool is_within(std::string_view path, std::string_view base) noexcept;

} // namespace berth::fs_tree
