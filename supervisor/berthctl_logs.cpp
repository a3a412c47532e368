// berthctl logs: reading backwards for the last lines, inotify on the log's directory for -f.
#include "supervisor/berthctl_logs.hpp"

#include "engine/unique_fd.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace berth::ctl {
namespace {

// Writes everything or fails; stdout may be a pipe closed by the reader (SIGPIPE ends us).
void write_out(const char* data, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::write(STDOUT_FILENO, data, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            std::exit(1); // stdout is gone: nobody to tell
        }
        data += w;
        n -= static_cast<std::size_t>(w);
    }
}

// Copies [from, to) of fd to stdout; returns where it stopped (at EOF if the file shrank).
std::uint64_t copy_range(int fd, std::uint64_t from, std::uint64_t to) {
    char buf[65536];
    while (from < to) {
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(sizeof buf, to - from));
        ssize_t n = ::pread(fd, buf, want, static_cast<off_t>(from));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        write_out(buf, static_cast<std::size_t>(n));
        from += static_cast<std::uint64_t>(n);
    }
    return from;
}

struct open_log {
    unique_fd fd;
    std::uint64_t size = 0;
};

// The replica's log and its rotated predecessors (NAME, NAME.1, NAME.2, ...), newest first.
std::vector<open_log> open_rotated(const std::string& path, unique_fd current) {
    std::vector<open_log> files;
    struct stat st {};
    if (current && ::fstat(current.get(), &st) == 0) {
        files.push_back({std::move(current), static_cast<std::uint64_t>(st.st_size)});
    }
    for (unsigned i = 1; i < 1000; ++i) {
        unique_fd fd(::open((path + "." + std::to_string(i)).c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd || ::fstat(fd.get(), &st) != 0) {
            break;
        }
        files.push_back({std::move(fd), static_cast<std::uint64_t>(st.st_size)});
    }
    return files;
}

// Prints the last n lines of the files (newest first) read as one stream, oldest first. A
// final line without its newline counts as a line.
void print_last_lines(const std::vector<open_log>& files, std::size_t n) {
    if (n == 0) {
        return;
    }
    std::size_t newlines = 0;
    bool at_end = true; // the stream's last byte is still ahead
    std::size_t start_file = files.size();
    std::uint64_t start_offset = 0;
    bool found = false;
    char buf[65536];
    for (std::size_t f = 0; f < files.size() && !found; ++f) {
        std::uint64_t end = files[f].size;
        while (end > 0 && !found) {
            std::uint64_t begin = end > sizeof buf ? end - sizeof buf : 0;
            ssize_t got = ::pread(files[f].fd.get(), buf, static_cast<std::size_t>(end - begin),
                                  static_cast<off_t>(begin));
            if (got <= 0) {
                break;
            }
            for (ssize_t i = got - 1; i >= 0; --i) {
                if (buf[i] == '\n' && !at_end && ++newlines == n) {
                    start_file = f;
                    start_offset = begin + static_cast<std::uint64_t>(i) + 1;
                    found = true;
                    break;
                }
                at_end = false;
            }
            end = begin;
        }
        start_file = found ? start_file : f;
    }
    for (std::size_t f = start_file + 1; f-- > 0;) {
        if (f < files.size()) {
            copy_range(files[f].fd.get(), f == start_file ? start_offset : 0, files[f].size);
        }
    }
}

// Follows the log like `tail -F`: new data as it is appended; when berth rotates (NAME
// becomes NAME.1, a new NAME appears) the old file is read to its end, then the new one from
// its start; a file truncated in place is read again from its start. Woken by inotify on
// the log's directory; runs until a signal ends it.
status follow(const std::string& path, open_log current, int inotify_fd) {
    std::uint64_t offset = current.size;
    char events[4096];
    for (;;) {
        if (current.fd) {
            struct stat st {};
            if (::fstat(current.fd.get(), &st) == 0 &&
                static_cast<std::uint64_t>(st.st_size) < offset) {
                offset = 0; // truncated in place
            }
            offset = copy_range(current.fd.get(), offset, UINT64_MAX);
        }
        struct stat now {};
        struct stat mine {};
        if (::stat(path.c_str(), &now) == 0 &&
            (!current.fd || (::fstat(current.fd.get(), &mine) == 0 &&
                             (mine.st_ino != now.st_ino || mine.st_dev != now.st_dev)))) {
            unique_fd next(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
            if (next) {
                if (current.fd) {
                    copy_range(current.fd.get(), offset, UINT64_MAX); // the rotated file's tail
                }
                current = {std::move(next), 0};
                offset = 0;
                continue;
            }
        }
        ssize_t n = ::read(inotify_fd, events, sizeof events); // blocks until the dir changes
        if (n < 0 && errno != EINTR) {
            return error::from_errno("log '" + path + "': inotify: read");
        }
    }
}

} // namespace

status show_log(const std::string& path, std::size_t lines, bool follow_it) {
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    // Watch before reading, so that no change between the two is missed.
    unique_fd watch;
    if (follow_it) {
        watch.reset(::inotify_init1(IN_CLOEXEC));
        if (!watch) {
            return error::from_errno("log '" + path + "': inotify");
        }
        if (::inotify_add_watch(watch.get(), dir.c_str(),
                                IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                    IN_CLOSE_WRITE | IN_ATTRIB) < 0) {
            return error::from_errno("log directory '" + dir + "': inotify: watch");
        }
    }
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd && errno == ENOENT && !follow_it) {
        // berth creates a log with the replica's first output: in an existing directory a
        // missing file is a replica that has written nothing yet (its older files may remain).
        struct stat st {};
        if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            print_last_lines(open_rotated(path, unique_fd()), lines);
            return {};
        }
        errno = ENOENT;
    }
    if (!fd && !(follow_it && errno == ENOENT)) {
        return error::from_errno("log '" + path + "': open");
    }
    const bool have_current = fd.valid();
    auto files = open_rotated(path, std::move(fd));
    print_last_lines(files, lines);
    if (!follow_it) {
        return {};
    }
    open_log current;
    if (have_current && !files.empty()) {
        current = std::move(files.front()); // followed from where the tail stopped
    }
    return follow(path, std::move(current), watch.get());
}

} // namespace berth::ctl
