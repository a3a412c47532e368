// Name lookups in an image's passwd and group files: colon-separated lines, the fields berth
// needs are 0 (name), 2 (id) and, in passwd, 3 (primary gid). Malformed lines are skipped, as
// getpwnam skips them.
#include "supervisor/image_user.hpp"

#include "config/values.hpp"
#include "engine/fs_tree.hpp"
#include "engine/unique_fd.hpp"

#include <fcntl.h>

#include <charconv>
#include <vector>

namespace berth {
namespace {

constexpr std::size_t max_account_file = 4u << 20; // far above any real /etc/passwd

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    while (true) {
        const std::size_t colon = line.find(':');
        out.push_back(line.substr(0, colon));
        if (colon == std::string_view::npos) {
            return out;
        }
        line.remove_prefix(colon + 1);
    }
}

std::optional<std::uint32_t> number(std::string_view text) {
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// Calls `match` with each line's fields whose first field is `name`; the first line for
// which it returns a value wins.
template <typename T, typename F>
std::optional<T> first_entry(std::string_view text, std::string_view name, F match) {
    while (!text.empty()) {
        const std::size_t newline = text.find('\n');
        auto f = fields(text.substr(0, newline));
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (f[0] == name) {
            if (auto found = match(f)) {
                return found;
            }
        }
    }
    return std::nullopt;
}

result<std::string> account_file(const std::string& root, const std::string& path) {
    unique_fd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        return error::from_errno("open the image root '" + root + "'");
    }
    return fs_tree::read_in_root(dir.get(), path, max_account_file);
}

bool is_number(std::string_view text) {
    return number(text).has_value();
}

} // namespace

std::optional<config::credentials> find_passwd_entry(std::string_view passwd,
                                                     std::string_view name) {
    return first_entry<config::credentials>(
        passwd, name, [](const auto& f) -> std::optional<config::credentials> {
            if (f.size() < 4) {
                return std::nullopt;
            }
            auto uid = number(f[2]);
            auto gid = number(f[3]);
            if (!uid || !gid) {
                return std::nullopt;
            }
            return config::credentials{*uid, *gid};
        });
}

std::optional<std::uint32_t> find_group_entry(std::string_view group, std::string_view name) {
    return first_entry<std::uint32_t>(group, name,
                                      [](const auto& f) -> std::optional<std::uint32_t> {
                                          return f.size() < 3 ? std::nullopt : number(f[2]);
                                      });
}

result<config::credentials> resolve_image_user(std::string_view user, const std::string& root) {
    const std::string subject = "User '" + std::string(user) + "'";
    const std::size_t colon = user.find(':');
    const std::string_view who = user.substr(0, colon);
    const std::string_view group =
        colon == std::string_view::npos ? std::string_view{} : user.substr(colon + 1);
    if (is_number(who) && (colon == std::string_view::npos || is_number(group))) {
        auto numeric = config::parse_user(user);
        if (!numeric) {
            return error(EINVAL, subject + ": " + numeric.error());
        }
        return *numeric;
    }
    if (who.empty() || (colon != std::string_view::npos && group.empty())) {
        return error(EINVAL, subject + ": expected USER, USER:GROUP or UID:GID");
    }
    config::credentials out;
    if (auto uid = number(who)) {
        out = {*uid, *uid};
    } else {
        auto passwd = account_file(root, "/etc/passwd");
        if (!passwd) {
            return passwd.error().within(subject + ": the image's /etc/passwd");
        }
        auto entry = find_passwd_entry(*passwd, who);
        if (!entry) {
            return error(ENOENT, subject + ": no user '" + std::string(who) +
                                     "' in the image's /etc/passwd");
        }
        out = *entry;
    }
    if (colon == std::string_view::npos) {
        return out;
    }
    if (auto gid = number(group)) {
        out.gid = *gid;
        return out;
    }
    auto groups = account_file(root, "/etc/group");
    if (!groups) {
        return groups.error().within(subject + ": the image's /etc/group");
    }
    auto gid = find_group_entry(*groups, group);
    if (!gid) {
        return error(ENOENT,
                     subject + ": no group '" + std::string(group) + "' in the image's /etc/group");
    }
    out.gid = *gid;
    return out;
}

} // namespace berth
