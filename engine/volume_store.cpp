// The volume store: named and anonymous volume directories, host bind checks, leases.
#include "engine/volume_store.hpp"

#include "engine/fs_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

namespace berth {
namespace {

std::string subject_of(const volume_request& v) {
    switch (v.type) {
    case volume_request::kind::anonymous:
        return "volume '" + v.target + "'";
    default:
        return "volume '" + v.source + ":" + v.target + "'";
    }
}

// Why target cannot be a mount point inside the container, or nullopt.
std::optional<std::string> check_target(const std::string& target) {
    if (target.empty() || target.front() != '/') {
        return "target '" + target + "' is not an absolute path";
    }
    if (target.find(':') != std::string::npos) {
        return "target '" + target + "' holds ':'";
    }
    std::size_t at = 1;
    while (at <= target.size()) {
        std::size_t slash = std::min(target.find('/', at), target.size());
        auto part = target.substr(at, slash - at);
        if (part.empty() || part == "." || part == "..") {
            return target == "/"
                       ? "target is '/', the container's root"
                       : "target '" + target + "' has an empty, \".\" or \"..\" component";
        }
        at = slash + 1;
    }
    for (const char* hidden : {"/proc", "/sys", "/dev"}) {
        if (fs_tree::is_within(target, hidden)) {
            return "target '" + target + "' is under " + hidden + ", which the shim mounts over";
        }
    }
    return std::nullopt;
}

// "/var/lib/db" -> "var%2Flib%2Fdb": one directory name per target, stable across restarts.
std::string escape_target(const std::string& target) {
    std::string out;
    for (char c : target.substr(1)) {
        if (c == '/') {
            out += "%2F";
        } else if (c == '%') {
            out += "%25";
        } else {
            out += c;
        }
    }
    return out;
}

// Creates dir when missing and, only then, gives it to uid:gid. Returns whether it existed.
status make_owned_dir(const std::string& dir, uid_t uid, gid_t gid) {
    if (::mkdir(dir.c_str(), 0755) != 0) {
        if (errno == EEXIST) {
            struct stat st {};
            if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
                return error(ENOTDIR, "'" + dir + "'");
            }
            return {};
        }
        return error::from_errno("mkdir '" + dir + "'");
    }
    if ((uid != 0 || gid != 0) && ::chown(dir.c_str(), uid, gid) != 0) {
        return error::from_errno("chown '" + dir + "'");
    }
    return {};
}

status make_private_dirs(const std::string& dir) {
    std::string path;
    std::size_t at = 1;
    while (at <= dir.size()) {
        std::size_t slash = std::min(dir.find('/', at), dir.size());
        path = dir.substr(0, slash);
        if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
            return error::from_errno("mkdir '" + path + "'");
        }
        at = slash + 1;
    }
    return {};
}

std::string canonical(const std::string& path) {
    char buf[PATH_MAX];
    if (::realpath(path.c_str(), buf) != nullptr) {
        return buf;
    }
    std::string text = path;
    while (text.size() > 1 && text.back() == '/') {
        text.pop_back();
    }
    return text;
}

bool replica_ok(std::string_view replica) {
    if (replica.empty() || replica.front() == '/' || replica.back() == '/') {
        return false;
    }
    std::size_t at = 0;
    while (at <= replica.size()) {
        std::size_t slash = std::min(replica.find('/', at), replica.size());
        auto part = replica.substr(at, slash - at);
        if (part.empty() || part == "." || part == "..") {
            return false;
        }
        at = slash + 1;
    }
    return true;
}

// An exclusive lock without waiting: EBUSY when someone holds a lease.
status try_lock_exclusive(int fd) {
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        return error(errno == EWOULDBLOCK ? EBUSY : errno, "lock");
    }
    return {};
}

} // namespace

volume_store::volume_store(settings s) : settings_(std::move(s)) {}

std::string volume_store::path_of(std::string_view name) const {
    return settings_.root + "/" + std::string(name);
}

std::optional<std::string> volume_store::check_name(std::string_view name) {
    if (name.empty() || name.size() > 255) {
        return "not 1 to 255 bytes long";
    }
    if (name.front() == '.') {
        return "starts with '.'";
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok) {
            return "holds a character other than [A-Za-z0-9_.-]";
        }
    }
    return std::nullopt;
}

result<volume_lease> volume_store::take_named(const std::string& shown, const std::string& name,
                                              uid_t uid, gid_t gid) const {
    if (auto why = check_name(name)) {
        return error(EINVAL, shown + ": name '" + name + "' " + *why);
    }
    if (auto st = make_private_dirs(settings_.root); !st) {
        return st.error().within(shown);
    }
    std::string dir = path_of(name);
    // remove() renames the directory away while holding LOCK_EX: a lock won on a directory
    // that is no longer at its path is retried.
    for (int attempt = 0; attempt < 8; ++attempt) {
        if (auto st = make_owned_dir(dir, uid, gid); !st) {
            return st.error().within(shown);
        }
        unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            return error::from_errno(shown + ": open '" + dir + "'");
        }
        while (::flock(fd.get(), LOCK_SH) != 0) {
            if (errno != EINTR) {
                return error::from_errno(shown + ": lock '" + dir + "'");
            }
        }
        struct stat held {};
        struct stat now {};
        if (::fstat(fd.get(), &held) == 0 && ::stat(dir.c_str(), &now) == 0 &&
            held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
            return volume_lease(std::move(fd));
        }
    }
    return error(EAGAIN, shown + ": removed while being locked, again and again");
}

result<std::string> volume_store::take_anonymous(const std::string& shown, std::string_view replica,
                                                 const std::string& target, uid_t uid,
                                                 gid_t gid) const {
    if (settings_.anonymous_root.empty()) {
        return error(EINVAL, shown + ": anonymous volumes need a place (no anonymous_root)");
    }
    if (!replica_ok(replica)) {
        return error(EINVAL, shown + ": '" + std::string(replica) + "' is not a replica id");
    }
    std::string parent = settings_.anonymous_root + "/" + std::string(replica);
    if (auto st = make_private_dirs(parent); !st) {
        return st.error().within(shown);
    }
    std::string dir = parent + "/" + escape_target(target);
    if (auto st = make_owned_dir(dir, uid, gid); !st) {
        return st.error().within(shown);
    }
    return dir;
}

status volume_store::check_bind_source(const std::string& shown, const std::string& source) const {
    if (source.empty() || source.front() != '/') {
        return error(EINVAL, shown + ": host path '" + source + "' is not absolute");
    }
    if (source.find(':') != std::string::npos) {
        return error(EINVAL, shown + ": host path '" + source + "' holds ':'");
    }
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0) {
        return error::from_errno(shown + ": host path '" + source + "'");
    }
    std::string real = canonical(source);
    for (const auto& p : settings_.protected_paths) {
        std::string guarded = canonical(p);
        if (fs_tree::is_within(real, guarded)) {
            return error(EPERM, shown + ": host path '" + source + "' is inside berth's own '" +
                                    guarded + "'");
        }
        if (fs_tree::is_within(guarded, real)) {
            return error(EPERM, shown + ": host path '" + source + "' holds berth's own '" +
                                    guarded + "'");
        }
    }
    return {};
}

result<prepared_volumes> volume_store::prepare(std::string_view replica,
                                               const std::vector<volume_request>& volumes,
                                               uid_t owner_uid, gid_t owner_gid) const {
    prepared_volumes out;
    std::set<std::string> targets;
    for (const auto& v : volumes) {
        std::string shown = subject_of(v);
        if (auto why = check_target(v.target)) {
            return error(EINVAL, shown + ": " + *why);
        }
        if (!targets.insert(v.target).second) {
            return error(EINVAL, shown + ": a second volume at '" + v.target + "'");
        }
        volume_bind bind{"", v.target, v.read_only};
        switch (v.type) {
        case volume_request::kind::named: {
            auto lease = take_named(shown, v.source, owner_uid, owner_gid);
            if (!lease) {
                return lease.error();
            }
            out.leases.push_back(std::move(*lease));
            bind.source = path_of(v.source);
            break;
        }
        case volume_request::kind::anonymous: {
            auto dir = take_anonymous(shown, replica, v.target, owner_uid, owner_gid);
            if (!dir) {
                return dir.error();
            }
            bind.source = *dir;
            break;
        }
        case volume_request::kind::bind:
            if (auto st = check_bind_source(shown, v.source); !st) {
                return st.error();
            }
            bind.source = v.source;
            break;
        }
        out.binds.push_back(std::move(bind));
    }
    // A parent's mount first, or it would hide a child's.
    std::sort(out.binds.begin(), out.binds.end(),
              [](const volume_bind& a, const volume_bind& b) { return a.target < b.target; });
    return out;
}

status volume_store::remove_anonymous(std::string_view replica) const {
    if (settings_.anonymous_root.empty()) {
        return {};
    }
    if (!replica_ok(replica)) {
        return error(EINVAL, "'" + std::string(replica) + "' is not a replica id");
    }
    std::string dir = settings_.anonymous_root + "/" + std::string(replica);
    if (auto st = fs_tree::remove_tree(dir); !st) {
        return st.error().within("replica " + std::string(replica) + ": anonymous volumes");
    }
    // The service's directory goes too once its last replica's is gone (rmdir fails if not).
    auto slash = replica.rfind('/');
    if (slash != std::string_view::npos) {
        ::rmdir((settings_.anonymous_root + "/" + std::string(replica.substr(0, slash))).c_str());
    }
    return {};
}

result<std::vector<volume_info>> volume_store::list() const {
    std::vector<volume_info> out;
    DIR* d = ::opendir(settings_.root.c_str());
    if (d == nullptr) {
        if (errno == ENOENT) {
            return out;
        }
        return error::from_errno("open '" + settings_.root + "'");
    }
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (check_name(name)) {
            continue; // ".", "..", and remove()'s ".trash-*" leftovers
        }
        volume_info info;
        info.name = name;
        info.path = path_of(name);
        unique_fd fd(::open(info.path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            continue;
        }
        info.in_use = !try_lock_exclusive(fd.get());
        info.size = fs_tree::tree_bytes(info.path);
        out.push_back(std::move(info));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end(),
              [](const volume_info& a, const volume_info& b) { return a.name < b.name; });
    return out;
}

status volume_store::remove(std::string_view name,
                            const std::set<std::string, std::less<>>& in_use) const {
    std::string shown = "volume '" + std::string(name) + "'";
    if (auto why = check_name(name)) {
        return error(EINVAL, shown + ": " + *why);
    }
    if (in_use.contains(name)) {
        return error(EBUSY, shown + ": in use by the fleet");
    }
    std::string dir = path_of(name);
    unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        return error(errno, errno == ENOENT ? shown + ": no such volume in '" + settings_.root + "'"
                                            : shown + ": open '" + dir + "'");
    }
    if (auto st = try_lock_exclusive(fd.get()); !st) {
        return error(st.error().code(),
                     shown + ": in use by a running container (a lease is held)");
    }
    // Renamed away while locked: a new user of the name gets a fresh directory, and a crash
    // mid-removal leaves only a ".trash-" directory, which list() ignores.
    std::string doomed =
        settings_.root + "/.trash-" + std::string(name) + "-" + std::to_string(::getpid());
    if (::rename(dir.c_str(), doomed.c_str()) != 0) {
        return error::from_errno(shown + ": rename '" + dir + "'");
    }
    fd.reset();
    return fs_tree::remove_tree(doomed).within(shown);
}

} // namespace berth
