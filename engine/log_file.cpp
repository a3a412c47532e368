// Size-rotated append-only log files.
#include "engine/log_file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace berth {
namespace {

unique_fd open_append(const std::filesystem::path& path) {
    return unique_fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
}

std::filesystem::path numbered(const std::filesystem::path& path, unsigned n) {
    auto p = path;
    p += "." + std::to_string(n);
    return p;
}

} // namespace

log_file::log_file(std::filesystem::path path, unique_fd fd, std::uint64_t size,
                   std::uint64_t max_size, unsigned max_files) noexcept
    : path_(std::move(path)), fd_(std::move(fd)), size_(size), max_size_(max_size),
      max_files_(max_files == 0 ? 1 : max_files) {}

result<log_file> log_file::open(std::filesystem::path path, std::uint64_t max_size,
                                unsigned max_files) noexcept {
    // The file is created by the first append, not here: a replica that never writes costs no
    // inode, and creating a thousand files on ext4 took more of berth's CPU per start than the
    // spawn itself (the allocator reads inode tables looking for recently deleted inodes).
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
            return error::from_errno("log '" + path.string() + "': open");
        }
        return log_file(std::move(path), unique_fd(), static_cast<std::uint64_t>(st.st_size),
                        max_size, max_files);
    }
    if (errno != ENOENT) {
        return error::from_errno("log '" + path.string() + "': stat");
    }
    // Not there yet: the first append must be able to create it.
    auto dir = path.parent_path();
    if (::access(dir.empty() ? "." : dir.c_str(), W_OK | X_OK) != 0) {
        return error::from_errno("log '" + path.string() + "': open");
    }
    return log_file(std::move(path), unique_fd(), 0, max_size, max_files);
}

status log_file::rotate() noexcept {
    if (max_files_ == 1) {
        if (::truncate(path_.c_str(), 0) != 0) {
            return error::from_errno("log '" + path_.string() + "': truncate");
        }
        size_ = 0;
        return {};
    }
    // NAME.(K-1) falls off; NAME.i becomes NAME.(i+1); NAME becomes NAME.1.
    for (unsigned i = max_files_ - 1; i > 1; --i) {
        ::rename(numbered(path_, i - 1).c_str(), numbered(path_, i).c_str());
    }
    if (::rename(path_.c_str(), numbered(path_, 1).c_str()) != 0) {
        return error::from_errno("log '" + path_.string() + "': rotate");
    }
    size_ = 0;
    return {};
}

status log_file::append(std::span<const char> data) noexcept {
    if (max_size_ != 0 && size_ > 0 && size_ + data.size() > max_size_) {
        if (auto st = rotate(); !st) {
            return st;
        }
    }
    fd_ = open_append(path_);
    if (!fd_) {
        return error::from_errno("log '" + path_.string() + "': open");
    }
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd_.get(), data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            auto err = error::from_errno("log '" + path_.string() + "': write");
            fd_.reset();
            return err;
        }
        done += static_cast<std::size_t>(n);
    }
    size_ += done;
    fd_.reset();
    return {};
}

} // namespace berth
