// The tar unpacker: every path resolved below the target with openat2, nothing followed.
#include "engine/layer_unpack.hpp"

#include "engine/blob_stream.hpp"
#include "engine/fs_tree.hpp"
#include "engine/unique_fd.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace berth {

std::optional<std::string> clean_entry_path(std::string_view name) {
    std::string out;
    std::size_t at = 0;
    while (at <= name.size()) {
        std::size_t slash = name.find('/', at);
        if (slash == std::string_view::npos) {
            slash = name.size();
        }
        std::string_view part = name.substr(at, slash - at);
        at = slash + 1;
        if (part.empty() || part == ".") {
            continue;
        }
        if (part == "..") {
            return std::nullopt;
        }
        if (!out.empty()) {
            out += '/';
        }
        out += part;
    }
    return out;
}

namespace {

constexpr std::string_view whiteout_prefix = ".wh.";
constexpr std::string_view opaque_marker = ".wh..wh..opq";
constexpr const char* opaque_xattr = "trusted.overlay.opaque";

struct split_path {
    std::string parent; // "" for the root
    std::string base;   // "" only for the root itself
};

split_path split(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) {
        return {"", path};
    }
    return {path.substr(0, slash), path.substr(slash + 1)};
}

struct dir_times {
    std::string path;
    timespec times[2];
};

class unpacker {
public:
    unpacker(::archive* tar, int root, std::string root_path, const unpack_options& options)
        : tar_(tar), root_(root), root_path_(std::move(root_path)), options_(options) {}

    result<unpack_stats> run();

private:
    status entry(archive_entry* e);
    status whiteout(const std::string& shown, const split_path& where);
    status directory(archive_entry* e, const std::string& shown, const std::string& path);
    status regular(archive_entry* e, const std::string& shown, const split_path& where);
    status symlink(archive_entry* e, const std::string& shown, const split_path& where);
    status hardlink(archive_entry* e, const std::string& shown, const split_path& where);
    status node(archive_entry* e, const std::string& shown, const split_path& where);

    result<int> parent(const std::string& shown, const std::string& path);
    status make_room(const std::string& shown, int dir, const std::string& path,
                     const std::string& base, bool keep_directory);
    result<std::int64_t> write_data(const std::string& shown, int fd); // returns the end written
    status set_owner_mode(archive_entry* e, const std::string& shown, int fd);
    status set_xattrs(archive_entry* e, const std::string& shown, int fd, const std::string& path);
    status finish_dirs();
    error parent_error(const std::string& shown, const std::string& path, int code);
    static timespec mtime(archive_entry* e);
    static timespec atime(archive_entry* e);

    ::archive* tar_;
    int root_;
    std::string root_path_;
    unpack_options options_;
    unpack_stats stats_;
    std::string cached_path_; // the parent directory most recently opened
    unique_fd cached_fd_;
    std::vector<dir_times> dirs_;
    std::vector<char> buffer_;
};

result<unpack_stats> unpacker::run() {
    while (true) {
        archive_entry* e = nullptr;
        int r = archive_read_next_header(tar_, &e);
        if (r == ARCHIVE_EOF) {
            break;
        }
        if (r < ARCHIVE_WARN) {
            int code = archive_errno(tar_) > 0 ? archive_errno(tar_) : EIO;
            return error(code, "read tar: " + archive_message(tar_));
        }
        if (auto st = entry(e); !st) {
            return st.error();
        }
        ++stats_.entries;
    }
    if (auto st = finish_dirs(); !st) {
        return st.error();
    }
    return stats_;
}

status unpacker::entry(archive_entry* e) {
    const char* raw = archive_entry_pathname(e);
    if (raw == nullptr) {
        raw = archive_entry_pathname_utf8(e);
    }
    if (raw == nullptr) {
        return error(EINVAL, "an entry without a path");
    }
    std::string shown = raw;
    auto path = clean_entry_path(shown);
    if (!path) {
        return error(EINVAL, "'" + shown + "': path escapes the layer ('..')");
    }
    split_path where = split(*path);
    if (options_.layer && where.base.compare(0, whiteout_prefix.size(), whiteout_prefix) == 0) {
        return whiteout(shown, where);
    }
    if (archive_entry_hardlink(e) != nullptr) {
        return hardlink(e, shown, where);
    }
    switch (archive_entry_filetype(e)) {
    case AE_IFDIR:
        return directory(e, shown, *path);
    case AE_IFREG:
        return regular(e, shown, where);
    case AE_IFLNK:
        return symlink(e, shown, where);
    default:
        return node(e, shown, where);
    }
}

// Why a parent could not be opened, naming the component at fault.
error unpacker::parent_error(const std::string& shown, const std::string& path, int code) {
    std::string prefix;
    std::size_t at = 0;
    while (at <= path.size()) {
        std::size_t slash = std::min(path.find('/', at), path.size());
        prefix = path.substr(0, slash);
        struct stat st {};
        if (::fstatat(root_, prefix.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            return error(ELOOP, "'" + shown + "': its parent '" + prefix +
                                    "' is a symlink in this layer; refusing to write through it");
        }
        if (!S_ISDIR(st.st_mode)) {
            return error(ENOTDIR,
                         "'" + shown + "': its parent '" + prefix + "' is not a directory");
        }
        at = slash + 1;
    }
    return error(code, "'" + shown + "': open parent '" + path + "'");
}

// The parent directory, created (0755, the caller's owner) with its ancestors when the tar
// did not list it first. Returns a borrowed fd, valid until the next call.
result<int> unpacker::parent(const std::string& shown, const std::string& path) {
    if (path.empty()) {
        return root_;
    }
    if (cached_fd_ && cached_path_ == path) {
        return cached_fd_.get();
    }
    cached_fd_.reset();
    cached_path_.clear();
    auto fd = fs_tree::open_beneath(root_, path, O_RDONLY | O_DIRECTORY);
    if (!fd && fd.error().code() == ENOENT) {
        std::size_t at = 0;
        while (at <= path.size()) {
            std::size_t slash = std::min(path.find('/', at), path.size());
            std::string prefix = path.substr(0, slash);
            if (::mkdirat(root_, prefix.c_str(), 0755) != 0 && errno != EEXIST) {
                return parent_error(shown, path, errno);
            }
            at = slash + 1;
        }
        fd = fs_tree::open_beneath(root_, path, O_RDONLY | O_DIRECTORY);
    }
    if (!fd) {
        return parent_error(shown, path, fd.error().code());
    }
    cached_fd_ = std::move(*fd);
    cached_path_ = path;
    return cached_fd_.get();
}

// Removes what an earlier entry left at base (later entries win, as with tar itself); a
// directory stays when keep_directory is set and the new entry is a directory too.
status unpacker::make_room(const std::string& shown, int dir, const std::string& path,
                           const std::string& base, bool keep_directory) {
    struct stat st {};
    if (::fstatat(dir, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return errno == ENOENT ? status{} : error::from_errno("'" + shown + "': stat");
    }
    if (S_ISDIR(st.st_mode)) {
        if (keep_directory) {
            return {};
        }
        cached_fd_.reset();
        cached_path_.clear();
        return fs_tree::remove_tree(root_path_ + "/" + path).within("'" + shown + "'");
    }
    if (::unlinkat(dir, base.c_str(), 0) != 0) {
        return error::from_errno("'" + shown + "': remove the earlier entry");
    }
    return {};
}

status unpacker::whiteout(const std::string& shown, const split_path& where) {
    auto dir = parent(shown, where.parent);
    if (!dir) {
        return dir.error();
    }
    if (where.base == opaque_marker) {
        if (::fsetxattr(*dir, opaque_xattr, "y", 1, 0) != 0) {
            return error::from_errno("'" + shown + "': set " + std::string(opaque_xattr));
        }
        return {};
    }
    if (where.base.rfind(".wh..wh.", 0) == 0) {
        return {}; // other ".wh..wh." names are aufs bookkeeping (hard link dirs): skipped
    }
    std::string name = where.base.substr(whiteout_prefix.size());
    if (name.empty() || name == "." || name == "..") {
        return error(EINVAL, "'" + shown + "': a whiteout without a valid name");
    }
    std::string path = where.parent.empty() ? name : where.parent + "/" + name;
    if (auto st = make_room(shown, *dir, path, name, false); !st) {
        return st;
    }
    if (::mknodat(*dir, name.c_str(), S_IFCHR | 0, ::makedev(0, 0)) != 0) {
        return error::from_errno("'" + shown + "': mknod the whiteout");
    }
    return {};
}

timespec unpacker::mtime(archive_entry* e) {
    return {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
}

timespec unpacker::atime(archive_entry* e) {
    return archive_entry_atime_is_set(e) != 0
               ? timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)}
               : mtime(e);
}

status unpacker::set_owner_mode(archive_entry* e, const std::string& shown, int fd) {
    mode_t mode = archive_entry_perm(e) & 07777;
    if (!options_.layer) {
        mode = archive_entry_filetype(e) == AE_IFDIR ? 0755 : 0644;
    } else if (::fchown(fd, static_cast<uid_t>(archive_entry_uid(e)),
                        static_cast<gid_t>(archive_entry_gid(e))) != 0) {
        return error::from_errno("'" + shown + "': chown");
    }
    // After the chown, which clears setuid and setgid bits.
    if (::fchmod(fd, mode) != 0) {
        return error::from_errno("'" + shown + "': chmod");
    }
    return {};
}

// xattrs after the chown (which drops security.capability). overlayfs' own are refused: an
// image could otherwise plant redirects or metacopy markers in the layer store. fd < 0: by
// path (a symlink, which has no fd to set them on).
status unpacker::set_xattrs(archive_entry* e, const std::string& shown, int fd,
                            const std::string& path) {
    if (!options_.layer || archive_entry_xattr_reset(e) == 0) {
        return {};
    }
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        std::string key = name;
        if (key.rfind("trusted.overlay.", 0) == 0) {
            return error(EPERM, "'" + shown + "': xattr '" + key +
                                    "' is overlayfs' own; a layer may not set it");
        }
        int r = fd >= 0
                    ? ::fsetxattr(fd, key.c_str(), value, size, 0)
                    : ::lsetxattr((root_path_ + "/" + path).c_str(), key.c_str(), value, size, 0);
        if (r != 0) {
            return error::from_errno("'" + shown + "': set xattr '" + key + "'");
        }
    }
    return {};
}

status unpacker::directory(archive_entry* e, const std::string& shown, const std::string& path) {
    unique_fd own;
    int fd = root_;
    if (!path.empty()) {
        split_path where = split(path);
        auto dir = parent(shown, where.parent);
        if (!dir) {
            return dir.error();
        }
        if (auto st = make_room(shown, *dir, path, where.base, true); !st) {
            return st;
        }
        if (::mkdirat(*dir, where.base.c_str(), 0700) != 0 && errno != EEXIST) {
            return error::from_errno("'" + shown + "': mkdir");
        }
        auto opened = fs_tree::open_beneath(root_, path, O_RDONLY | O_DIRECTORY);
        if (!opened) {
            return opened.error().within("'" + shown + "'");
        }
        own = std::move(*opened);
        fd = own.get();
    }
    if (auto st = set_owner_mode(e, shown, fd); !st) {
        return st;
    }
    if (auto st = set_xattrs(e, shown, fd, path); !st) {
        return st;
    }
    if (options_.layer) {
        dirs_.push_back({path, {atime(e), mtime(e)}});
    }
    return {};
}

result<std::int64_t> unpacker::write_data(const std::string& shown, int fd) {
    std::int64_t end = 0;
    while (true) {
        const void* block = nullptr;
        std::size_t size = 0;
        la_int64_t offset = 0;
        int r = archive_read_data_block(tar_, &block, &size, &offset);
        if (r == ARCHIVE_EOF) {
            return end;
        }
        if (r < ARCHIVE_WARN) {
            int code = archive_errno(tar_) > 0 ? archive_errno(tar_) : EIO;
            return error(code, "'" + shown + "': read: " + archive_message(tar_));
        }
        end = std::max<std::int64_t>(end, offset + static_cast<std::int64_t>(size));
        const char* at = static_cast<const char*>(block);
        while (size > 0) {
            ssize_t n = ::pwrite(fd, at, size, offset);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return error::from_errno("'" + shown + "': write");
            }
            at += n;
            size -= static_cast<std::size_t>(n);
            offset += n;
        }
    }
}

status unpacker::regular(archive_entry* e, const std::string& shown, const split_path& where) {
    if (where.base.empty()) {
        return error(EINVAL, "'" + shown + "': a file at the layer's root");
    }
    auto dir = parent(shown, where.parent);
    if (!dir) {
        return dir.error();
    }
    std::string path = where.parent.empty() ? where.base : where.parent + "/" + where.base;
    if (auto st = make_room(shown, *dir, path, where.base, false); !st) {
        return st;
    }
    unique_fd fd(::openat(*dir, where.base.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
        return error::from_errno("'" + shown + "': create");
    }
    auto written = write_data(shown, fd.get());
    if (!written) {
        return written.error();
    }
    auto size = archive_entry_size(e);
    // A sparse file's last hole is no data block: the size comes from the header.
    if (size > *written && ::ftruncate(fd.get(), size) != 0) {
        return error::from_errno("'" + shown + "': truncate");
    }
    stats_.bytes += static_cast<std::uint64_t>(size > 0 ? size : 0);
    if (auto st = set_owner_mode(e, shown, fd.get()); !st) {
        return st;
    }
    if (auto st = set_xattrs(e, shown, fd.get(), path); !st) {
        return st;
    }
    timespec times[2] = {atime(e), mtime(e)};
    if (options_.layer && ::futimens(fd.get(), times) != 0) {
        return error::from_errno("'" + shown + "': set times");
    }
    return {};
}

status unpacker::symlink(archive_entry* e, const std::string& shown, const split_path& where) {
    const char* target = archive_entry_symlink(e);
    if (target == nullptr) {
        target = archive_entry_symlink_utf8(e);
    }
    if (target == nullptr || where.base.empty()) {
        return error(EINVAL, "'" + shown + "': a symlink without a target or a name");
    }
    auto dir = parent(shown, where.parent);
    if (!dir) {
        return dir.error();
    }
    std::string path = where.parent.empty() ? where.base : where.parent + "/" + where.base;
    if (auto st = make_room(shown, *dir, path, where.base, false); !st) {
        return st;
    }
    // Created, never followed: later entries below it are refused (see parent()).
    if (::symlinkat(target, *dir, where.base.c_str()) != 0) {
        return error::from_errno("'" + shown + "': symlink");
    }
    if (!options_.layer) {
        return {};
    }
    if (::fchownat(*dir, where.base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                   static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0) {
        return error::from_errno("'" + shown + "': chown");
    }
    if (auto st = set_xattrs(e, shown, -1, path); !st) {
        return st;
    }
    timespec times[2] = {atime(e), mtime(e)};
    if (::utimensat(*dir, where.base.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
        return error::from_errno("'" + shown + "': set times");
    }
    return {};
}

status unpacker::hardlink(archive_entry* e, const std::string& shown, const split_path& where) {
    std::string target_shown = archive_entry_hardlink(e);
    auto target = clean_entry_path(target_shown);
    if (!target || target->empty()) {
        return error(EINVAL, "'" + shown + "': hard link to '" + target_shown +
                                 "', which escapes the layer");
    }
    split_path from = split(*target);
    unique_fd from_dir;
    int from_fd = root_;
    if (!from.parent.empty()) {
        auto opened = fs_tree::open_beneath(root_, from.parent, O_PATH | O_DIRECTORY);
        if (!opened) {
            return parent_error(shown + "' -> '" + target_shown, from.parent,
                                opened.error().code());
        }
        from_dir = std::move(*opened);
        from_fd = from_dir.get();
    }
    auto dir = parent(shown, where.parent);
    if (!dir) {
        return dir.error();
    }
    std::string path = where.parent.empty() ? where.base : where.parent + "/" + where.base;
    if (*target == path) {
        return {}; // a link to itself: nothing to do
    }
    if (auto st = make_room(shown, *dir, path, where.base, false); !st) {
        return st;
    }
    // flags 0: a link to a symlink links the symlink itself, never what it points to.
    if (::linkat(from_fd, from.base.c_str(), *dir, where.base.c_str(), 0) != 0) {
        return error::from_errno("'" + shown + "': hard link to '" + target_shown + "'");
    }
    if (archive_entry_size_is_set(e) != 0 && archive_entry_size(e) > 0) {
        // pax allows a hard link to carry data, which then replaces the file's content.
        unique_fd fd(
            ::openat(*dir, where.base.c_str(), O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            return error::from_errno("'" + shown + "': open");
        }
        if (auto written = write_data(shown, fd.get()); !written) {
            return written.error();
        }
    }
    return {};
}

status unpacker::node(archive_entry* e, const std::string& shown, const split_path& where) {
    auto type = archive_entry_filetype(e);
    mode_t kind = 0;
    std::string what;
    switch (type) {
    case AE_IFCHR:
        kind = S_IFCHR;
        what = "a character device";
        break;
    case AE_IFBLK:
        kind = S_IFBLK;
        what = "a block device";
        break;
    case AE_IFIFO:
        kind = S_IFIFO;
        what = "a FIFO";
        break;
    default:
        return error(EINVAL, "'" + shown + "': an entry of unsupported type (a socket?)");
    }
    auto major = archive_entry_rdevmajor(e);
    auto minor = archive_entry_rdevminor(e);
    if (!options_.layer) {
        return error(EINVAL, "'" + shown + "': " + what + " in an image archive");
    }
    if (kind == S_IFCHR && major == 0 && minor == 0) {
        return error(EINVAL, "'" + shown +
                                 "': a character device 0/0 is overlayfs' whiteout; "
                                 "layers mark deletions with '.wh.' files");
    }
    if (kind != S_IFIFO && !options_.allow_devices) {
        return error(EPERM, "'" + shown + "': " + what + " node (" + std::to_string(major) + ":" +
                                std::to_string(minor) +
                                ") refused; import with --allow-devices to keep device nodes");
    }
    auto dir = parent(shown, where.parent);
    if (!dir) {
        return dir.error();
    }
    std::string path = where.parent.empty() ? where.base : where.parent + "/" + where.base;
    if (auto st = make_room(shown, *dir, path, where.base, false); !st) {
        return st;
    }
    if (::mknodat(*dir, where.base.c_str(), kind | 0600, ::makedev(major, minor)) != 0) {
        return error::from_errno("'" + shown + "': mknod");
    }
    // By name: opening a FIFO could block. The name is the node just made, not a symlink.
    if (::fchownat(*dir, where.base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                   static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0) {
        return error::from_errno("'" + shown + "': chown");
    }
    if (::fchmodat(*dir, where.base.c_str(), archive_entry_perm(e) & 07777, 0) != 0) {
        return error::from_errno("'" + shown + "': chmod");
    }
    if (auto st = set_xattrs(e, shown, -1, path); !st) {
        return st;
    }
    timespec times[2] = {atime(e), mtime(e)};
    if (::utimensat(*dir, where.base.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
        return error::from_errno("'" + shown + "': set times");
    }
    return {};
}

// Directory times last, deepest-created first, since every entry added below a directory
// changed its mtime.
status unpacker::finish_dirs() {
    cached_fd_.reset();
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
        unique_fd own;
        int fd = root_;
        if (!it->path.empty()) {
            auto opened = fs_tree::open_beneath(root_, it->path, O_RDONLY | O_DIRECTORY);
            if (!opened) {
                continue; // replaced by a later entry
            }
            own = std::move(*opened);
            fd = own.get();
        }
        if (::futimens(fd, it->times) != 0) {
            return error::from_errno("'" + it->path + "': set times");
        }
    }
    return {};
}

} // namespace

result<unpack_stats> unpack_tar(::archive* tar, int dir_fd, const std::string& dir,
                                const unpack_options& options) {
    unpacker u(tar, dir_fd, dir, options);
    return u.run();
}

} // namespace berth
