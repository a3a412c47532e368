// Parsers for the fleet's structured strings: signals, user ids, CPU lists, volumes, listen
// addresses, absolute paths and names. Each returns the value or why it is invalid.
#pragma once

#include "config/fleet.hpp"
#include "config/units.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace berth::config {

// "SIGTERM", "TERM" or a number 1..64. Names are Linux's standard signals (not SIGRTMIN+n,
// whose number differs between glibc and musl).
parsed<int> parse_signal(std::string_view text);
// "SIGTERM" for a named signal, the decimal number otherwise.
std::string format_signal(int number);

// "uid" (gid = uid) or "uid:gid", numeric, each 0..4294967294. User names are rejected: they
// need the image's /etc/passwd, which berth does not read.
parsed<credentials> parse_user(std::string_view text);
std::string format_user(const credentials& user);

// A cpuset list: "N" or "N-M" items separated by ',', N <= M <= 8191, no spaces.
parsed<std::string> parse_cpuset(std::string_view text);

// "[source:]target[:ro|:rw]". A source starting with '/' is a bind mount, any other source a
// named volume ([A-Za-z0-9_.-], may hold {service}/{replica}), no source an anonymous volume.
parsed<volume> parse_volume(std::string_view text);
std::string format_volume(const volume& v);

// "IPv4:port" or "[IPv6]:port", numeric only (PID 1 resolves no names), port 0..65535.
parsed<listen_address> parse_listen_address(std::string_view text);
std::string format_listen_address(const listen_address& address);

// An absolute path without NUL bytes or ".." components, at most 4095 bytes, returned
// normalized: "//" and "/./" collapsed, no trailing '/' (except "/" itself).
parsed<std::string> parse_absolute_path(std::string_view text);

// Service and image names: 1..48 of [A-Za-z0-9_-], starting with a letter or digit; "init"
// is reserved for the supervisor's own cgroup. Returns why a name is invalid, if it is.
std::optional<std::string> check_name(std::string_view name);

// A hostname after expansion: 1..64 bytes of [A-Za-z0-9._-], not starting with '-' or '.'.
std::optional<std::string> check_hostname(std::string_view hostname);

} // namespace berth::config
