// /proc/self/mountinfo: parsing (octal escapes, optional fields) and the queries berth needs.
#pragma once

#include "engine/result.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace berth {

// One line of mountinfo (proc(5)), with every path and string field unescaped:
//   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)  (4)   (5)         (6)       (7)      (8)(9)  (10)      (11)
struct mount_entry {
    int mount_id = 0;
    int parent_id = 0;
    unsigned major = 0;
    unsigned minor = 0;
    std::string root;                         // (4) the path inside the filesystem mounted here
    std::string mount_point;                  // (5) relative to the reading process's root
    std::string mount_options;                // (6) per-mount options
    std::vector<std::string> optional_fields; // (7) "shared:N", "master:N", ... (may be none)
    std::string fstype;                       // (9) "ext4", "overlay", "fuse.sshfs", ...
    std::string source;                       // (10) may be empty
    std::string super_options;                // (11) per-superblock options
};

// Undoes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash).
// A backslash not followed by three octal digits is kept as it is.
std::string unescape_mountinfo(std::string_view field);

// Parses mountinfo text. A malformed line is an error naming its line number
// ("mountinfo: line 3: no ' - ' separator"); an empty text is an empty table.
result<std::vector<mount_entry>> parse_mountinfo(std::string_view text);

// Reads and parses a mountinfo file (default: the calling process's own).
result<std::vector<mount_entry>> read_mountinfo(const std::string& path = "/proc/self/mountinfo");

// The mount point of the cgroup2 hierarchy. Preference when several are mounted:
// /sys/fs/cgroup (pure v2), then /sys/fs/cgroup/unified (hybrid), then the first other
// cgroup2 mount of the whole hierarchy (root "/"), then any. A mount point covered by a later
// mount on the same path does not count. None at all is an ENOENT error that says so.
result<std::string> find_cgroup2_mount(const std::vector<mount_entry>& mounts);

// The mounts at `prefix` or below it (path-component wise: "/a/b" is under "/a", "/ab" is
// not), deepest first; mounts stacked on one path come top-most first. This is the order in
// which they can be unmounted one by one.
std::vector<mount_entry> mounts_under(const std::vector<mount_entry>& mounts,
                                      std::string_view prefix);

// Whether `path` (absolute, canonical: no symlinks, "." or "..") is a mount point in `mounts`.
bool is_mount_point(const std::vector<mount_entry>& mounts, std::string_view path);

// The same question asked of the kernel with statx(STATX_ATTR_MOUNT_ROOT, Linux 5.8), which
// costs one syscall instead of reading the whole table. Follows symlinks in `path`.
result<bool> is_mount_point(const std::string& path);

} // namespace berth
