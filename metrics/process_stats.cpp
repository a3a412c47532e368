// The supervisor's own process: /proc/self/statm and /proc/self/fd.
#include "metrics/process_stats.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <ctime>
#include <string_view>

namespace berth::metrics {
namespace {

// The whole of a small /proc file.
result<std::string> read_small(const std::string& path) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return error::from_errno("process '" + path + "': open");
    }
    std::string text(4096, '\0');
    ssize_t n;
    do {
        n = ::read(fd.get(), text.data(), text.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return error::from_errno("process '" + path + "': read");
    }
    text.resize(static_cast<std::size_t>(n));
    return text;
}

} // namespace

result<std::uint64_t> resident_memory_bytes(const std::string& proc) {
    std::string path = proc + "/statm";
    auto text = read_small(path);
    if (!text) {
        return text.error();
    }
    // "size resident shared text lib data dt", in pages.
    std::string_view rest(*text);
    std::size_t space = rest.find(' ');
    std::uint64_t pages = 0;
    if (space != std::string_view::npos) {
        rest.remove_prefix(space + 1);
        auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pages);
        if (ec == std::errc() && end != rest.data()) {
            return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
        }
    }
    return error(EINVAL, "process '" + path + "': parse: no resident field");
}

status fd_counter::begin(const std::string& proc) {
    std::string path = proc + "/fd";
    dir_.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    count_ = 0;
    self_ = proc == "/proc/self";
    if (!dir_) {
        return error::from_errno("process '" + path + "': open");
    }
    return {};
}

result<bool> fd_counter::step() {
    if (!dir_) {
        return error(EBADF, "process fd count: step without begin");
    }
    long n;
    do {
        n = ::syscall(SYS_getdents64, dir_.get(), buf_.data(), buf_.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        int code = errno;
        dir_.reset();
        return error(code, "process fd count: getdents64");
    }
    if (n == 0) {
        dir_.reset();
        return true;
    }
    // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
    for (long off = 0; off < n;) {
        unsigned short reclen = 0;
        std::memcpy(&reclen, buf_.data() + off + 16, sizeof reclen);
        if (buf_[static_cast<std::size_t>(off) + 19] != '.') {
            ++count_;
        }
        off += reclen;
    }
    return false;
}

result<std::uint64_t> open_fds(const std::string& proc) {
    fd_counter counter;
    if (auto st = counter.begin(proc); !st) {
        return st.error();
    }
    while (true) {
        auto done = counter.step();
        if (!done) {
            return done.error();
        }
        if (*done) {
            return counter.count();
        }
    }
}

result<double> start_time_since_boot(const std::string& proc) {
    std::string path = proc + "/stat";
    auto text = read_small(path);
    if (!text) {
        return text.error();
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count the fields
    // after its last ')'. starttime is field 22, the 20th after comm.
    std::string_view rest(*text);
    std::size_t paren = rest.rfind(')');
    if (paren == std::string_view::npos) {
        return error(EINVAL, "process '" + path + "': parse: no command field");
    }
    rest.remove_prefix(paren + 1);
    for (int field = 0; field < 20; ++field) {
        std::size_t space = rest.find(' ');
        if (space == std::string_view::npos) {
            return error(EINVAL, "process '" + path + "': parse: too few fields");
        }
        rest.remove_prefix(space + 1);
    }
    std::uint64_t ticks = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), ticks);
    if (ec != std::errc() || end == rest.data()) {
        return error(EINVAL, "process '" + path + "': parse: bad starttime");
    }
    return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double seconds_since_boot() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

} // namespace berth::metrics
