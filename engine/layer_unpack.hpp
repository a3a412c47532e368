// Unpacking one tar stream into a directory, safely: a layer in overlayfs' format (whiteouts,
// opaque directories, ownership, modes, xattrs, times, links), or an image archive's files.
#pragma once

#include "engine/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct archive;

namespace berth {

struct unpack_options {
    // true: an image layer. ".wh.NAME" becomes an overlayfs whiteout (a 0/0 character device
    // named NAME), ".wh..wh..opq" the xattr trusted.overlay.opaque=y on its directory, other
    // ".wh..wh.*" entries are skipped; owners, modes (setuid included), xattrs and times are
    // kept. false: the files of an image archive itself (a `docker save` tar): regular files,
    // directories, symlinks and hard links only, owned by the caller, modes 0644 and 0755.
    bool layer = true;
    // Character and block device nodes are refused unless this is set (a container's root is
    // mounted nodev and its /dev is a fresh tmpfs, so an image's nodes never work there).
    bool allow_devices = false;
};

struct unpack_stats {
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0; // of regular files, each hard-linked file once
};

// Unpacks every entry of tar (a libarchive reader, see blob_stream) below the directory dir
// (open as dir_fd; the path is used only to remove replaced directory trees). Nothing is ever
// created or changed outside dir: a name with a ".." component, a hard link to a path outside,
// and any entry whose parent is a symlink (in this layer) are errors, so no symlink is ever
// followed. Errors name the entry: "'usr/../../x': path escapes the layer". Leading "/" and
// "./" are dropped, as Docker does. Directory times are set last, once their content is in.
result<unpack_stats> unpack_tar(::archive* tar, int dir_fd, const std::string& dir,
                                const unpack_options& options);

// The entry path as the unpacker uses it: leading "/" and "./" dropped, "//" and "/./"
// collapsed, a trailing "/" dropped ("" for the layer's root). nullopt when a component is
// "..".
std::optional<std::string> clean_entry_path(std::string_view name);

} // namespace berth
