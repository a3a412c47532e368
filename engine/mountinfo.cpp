// Parses /proc/self/mountinfo and answers the mount questions of the cgroup and layer code.
#include "engine/mountinfo.hpp"

#include "engine/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>

namespace berth {
namespace {

bool is_octal(char c) {
    return c >= '0' && c <= '7';
}

// Splits on single spaces, keeping empty fields (an empty source shows as two spaces).
std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    while (true) {
        std::size_t end = line.find(' ', start);
        if (end == std::string_view::npos) {
            fields.push_back(line.substr(start));
            return fields;
        }
        fields.push_back(line.substr(start, end - start));
        start = end + 1;
    }
}

template <typename Int> bool parse_number(std::string_view text, Int& out) {
    if (text.empty()) {
        return false;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

error line_error(std::size_t line_no, std::string_view what) {
    return error(EINVAL, "line " + std::to_string(line_no) + ": " + std::string(what));
}

result<mount_entry> parse_line(std::string_view line, std::size_t line_no) {
    std::vector<std::string_view> fields = split_fields(line);
    if (fields.size() < 10) {
        return line_error(line_no, "too few fields");
    }

    mount_entry entry;
    if (!parse_number(fields[0], entry.mount_id) || !parse_number(fields[1], entry.parent_id)) {
        return line_error(line_no, "bad mount id");
    }
    std::string_view dev = fields[2];
    std::size_t colon = dev.find(':');
    if (colon == std::string_view::npos || !parse_number(dev.substr(0, colon), entry.major) ||
        !parse_number(dev.substr(colon + 1), entry.minor)) {
        return line_error(line_no, "bad major:minor '" + std::string(dev) + "'");
    }
    entry.root = unescape_mountinfo(fields[3]);
    entry.mount_point = unescape_mountinfo(fields[4]);
    entry.mount_options = unescape_mountinfo(fields[5]);

    std::size_t i = 6;
    while (i < fields.size() && fields[i] != "-") {
        entry.optional_fields.push_back(unescape_mountinfo(fields[i]));
        ++i;
    }
    if (i == fields.size()) {
        return line_error(line_no, "no ' - ' separator");
    }
    if (fields.size() - i - 1 < 3) {
        return line_error(line_no, "fewer than 3 fields after ' - '");
    }
    entry.fstype = unescape_mountinfo(fields[i + 1]);
    entry.source = unescape_mountinfo(fields[i + 2]);
    // Spaces are escaped by the kernel, so more than one field left is not expected; keep any
    // rest as part of the super options rather than dropping it.
    std::string super_options(fields[i + 3]);
    for (std::size_t k = i + 4; k < fields.size(); ++k) {
        super_options += ' ';
        super_options += fields[k];
    }
    entry.super_options = unescape_mountinfo(super_options);
    return entry;
}

// "/a/b/" -> "/a/b"; "/" stays "/".
std::string_view strip_trailing_slashes(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') {
        path.remove_suffix(1);
    }
    return path;
}

bool is_at_or_under(std::string_view path, std::string_view prefix) {
    if (prefix == "/") {
        return !path.empty() && path.front() == '/';
    }
    if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) {
        return false;
    }
    return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::size_t depth_of(std::string_view path) {
    return static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
}

// True when another mount sits on the same path on top of `m` (it is then invisible).
bool is_covered(const std::vector<mount_entry>& mounts, const mount_entry& m) {
    return std::any_of(mounts.begin(), mounts.end(), [&](const mount_entry& other) {
        return other.parent_id == m.mount_id && other.mount_id != m.mount_id &&
               other.mount_point == m.mount_point;
    });
}

result<std::vector<mount_entry>> parse_lines(std::string_view text) {
    std::vector<mount_entry> mounts;
    std::size_t line_no = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        if (line.empty()) {
            continue;
        }
        auto entry = parse_line(line, line_no);
        if (!entry) {
            return entry.error();
        }
        mounts.push_back(std::move(entry.value()));
    }
    return mounts;
}

} // namespace

std::string unescape_mountinfo(std::string_view field) {
    std::string out;
    out.reserve(field.size());
    for (std::size_t i = 0; i < field.size(); ++i) {
        // The kernel escapes single bytes, so the first digit is at most 3.
        if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] <= '3' &&
            is_octal(field[i + 1]) && is_octal(field[i + 2]) && is_octal(field[i + 3])) {
            int value = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
            out += static_cast<char>(value);
            i += 3;
        } else {
            out += field[i];
        }
    }
    return out;
}

result<std::vector<mount_entry>> parse_mountinfo(std::string_view text) {
    return parse_lines(text).within("mountinfo");
}

result<std::vector<mount_entry>> read_mountinfo(const std::string& path) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return error::from_errno("mountinfo '" + path + "': open");
    }
    std::string text;
    std::array<char, 16384> buf;
    while (true) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return error::from_errno("mountinfo '" + path + "': read");
        }
        if (n == 0) {
            break;
        }
        text.append(buf.data(), static_cast<std::size_t>(n));
    }
    return parse_lines(text).within("mountinfo '" + path + "'");
}

result<std::string> find_cgroup2_mount(const std::vector<mount_entry>& mounts) {
    std::vector<const mount_entry*> visible;
    for (const auto& m : mounts) {
        if (m.fstype == "cgroup2" && !is_covered(mounts, m)) {
            visible.push_back(&m);
        }
    }
    for (std::string_view preferred : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        for (const auto* m : visible) {
            if (m->mount_point == preferred) {
                return m->mount_point;
            }
        }
    }
    for (const auto* m : visible) {
        if (m->root == "/") {
            return m->mount_point;
        }
    }
    if (!visible.empty()) {
        return visible.front()->mount_point;
    }
    return error(ENOENT, "find cgroup2 mount: no cgroup2 filesystem is mounted (per mountinfo)");
}

std::vector<mount_entry> mounts_under(const std::vector<mount_entry>& mounts,
                                      std::string_view prefix) {
    prefix = strip_trailing_slashes(prefix);
    std::vector<mount_entry> found;
    // Walk backwards so that, among mounts of equal depth, later (upper) ones come first.
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
        if (is_at_or_under(it->mount_point, prefix)) {
            found.push_back(*it);
        }
    }
    std::stable_sort(found.begin(), found.end(), [](const mount_entry& a, const mount_entry& b) {
        return depth_of(a.mount_point) > depth_of(b.mount_point);
    });
    return found;
}

bool is_mount_point(const std::vector<mount_entry>& mounts, std::string_view path) {
    path = strip_trailing_slashes(path);
    return std::any_of(mounts.begin(), mounts.end(),
                       [&](const mount_entry& m) { return m.mount_point == path; });
}

result<bool> is_mount_point(const std::string& path) {
    struct statx stx {};
    if (::statx(AT_FDCWD, path.c_str(), 0, STATX_TYPE, &stx) != 0) {
        return error::from_errno("mount point '" + path + "': statx");
    }
    if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) {
        return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
    }
    // Before Linux 5.8 statx does not report mount roots: ask mountinfo with the real path.
    char* real = ::realpath(path.c_str(), nullptr);
    if (real == nullptr) {
        return error::from_errno("mount point '" + path + "': realpath");
    }
    std::string canonical(real);
    std::free(real);
    auto mounts = read_mountinfo();
    if (!mounts) {
        return mounts.error();
    }
    return is_mount_point(mounts.value(), canonical);
}

} // namespace berth
