// Directory-tree helpers: beneath-only opens (openat2), atomic writes, removal, sizes.
#include "engine/fs_tree.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <utility>

namespace berth::fs_tree {
namespace {

result<unique_fd> open2(int dir_fd, const std::string& path, int flags, mode_t mode,
                        std::uint64_t resolve) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) != 0 ? mode : 0;
    how.resolve = resolve;
    long fd = ::syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof how);
    if (fd < 0) {
        return error::from_errno("open '" + path + "'");
    }
    return unique_fd(static_cast<int>(fd));
}

} // namespace

result<unique_fd> open_beneath(int dir_fd, const std::string& path, int flags, mode_t mode) {
    return open2(dir_fd, path, flags, mode,
                 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

result<unique_fd> open_in_root(int dir_fd, const std::string& path, int flags) {
    return open2(dir_fd, path, flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

result<std::string> read_in_root(int dir_fd, const std::string& path, std::size_t max) {
    auto fd = open_in_root(dir_fd, path, O_RDONLY);
    if (!fd) {
        return fd.error();
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) {
        return error::from_errno("stat '" + path + "'");
    }
    if (!S_ISREG(st.st_mode)) {
        return error(EINVAL, "'" + path + "': not a regular file");
    }
    if (static_cast<std::uint64_t>(st.st_size) > max) {
        return error(EFBIG, "'" + path + "': " + std::to_string(st.st_size) +
                                " bytes, over the limit of " + std::to_string(max));
    }
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::read(fd->get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return error::from_errno("read '" + path + "'");
        }
        if (n == 0) {
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    text.resize(done);
    return text;
}

status write_file_atomic(const std::string& path, std::string_view text) {
    std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) {
        return error::from_errno("create '" + tmp + "'");
    }
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error e = error::from_errno("write '" + tmp + "'");
            ::unlink(tmp.c_str());
            return e;
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
        error e = error::from_errno("write '" + path + "'");
        ::unlink(tmp.c_str());
        return e;
    }
    std::string dir = std::filesystem::path(path).parent_path().string();
    unique_fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd) {
        ::fsync(dir_fd.get());
    }
    return {};
}

status remove_tree(const std::string& path) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec); // never follows symlinks (it removes the link)
    if (ec && ec != std::errc::no_such_file_or_directory) {
        return error(ec.value(), "remove '" + path + "'");
    }
    return {};
}

std::uint64_t tree_bytes(const std::string& path) {
    std::uint64_t total = 0;
    std::set<std::pair<dev_t, ino_t>> linked;
    std::error_code ec;
    namespace fs = std::filesystem;
    for (fs::recursive_directory_iterator
             it(path, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (st.st_nlink > 1 && !linked.emplace(st.st_dev, st.st_ino).second) {
            continue;
        }
        total += static_cast<std::uint64_t>(st.st_size);
    }
    return total;
}

bool is_within(std::string_view path, std::string_view base) noexcept {
    if (base == "/") {
        return !path.empty() && path.front() == '/';
    }
    if (path.size() < base.size() || path.substr(0, base.size()) != base) {
        return false;
    }
    return path.size() == base.size() || path[base.size()] == '/';
}

} // namespace berth::fs_tree
