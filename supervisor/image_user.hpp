// An imported image's `User` as the uid and gid a service runs with. Numeric ids are taken as
// the fleet's `user` key takes them; names are looked up in the image's own /etc/passwd and
// /etc/group, read inside the image's root (symlinks followed, never out of it), as Docker
// and the OCI image spec resolve them.
#pragma once

#include "config/fleet.hpp"
#include "engine/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth {

// `user` is "USER", "USER:GROUP" (each a name or a number) or "UID:GID". A name with no
// group takes its passwd entry's primary gid. `root` is the image's merged read-only tree
// (the layer store's mount). Errors name what was not found and where:
//   "User 'www': no user 'www' in the image's /etc/passwd".
result<config::credentials> resolve_image_user(std::string_view user, const std::string& root);

// The lookups themselves, on the files' text (unit-tested without an image): the uid and the
// primary gid of `name` in passwd text, or the gid of `name` in group text.
std::optional<config::credentials> find_passwd_entry(std::string_view passwd,
                                                     std::string_view name);
std::optional<std::uint32_t> find_group_entry(std::string_view group, std::string_view name);

} // namespace berth
