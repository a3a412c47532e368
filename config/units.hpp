// Units of the fleet file: durations ("100ms", "1m30s"), sizes ("64M", "1.5GiB", "max") and
// CPU ("50%", "1.5" cores, "max"). Parsing is exact (decimal, no floating point) and never
// throws except std::bad_alloc; the error text says what was expected.
#pragma once

#include "config/fleet.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace berth::config {

// A parsed value or the reason it could not be parsed (a phrase such as
// `unknown unit "x" (use ms, s, m, h)`, without the key or the offending text).
template <typename T> class parsed {
public:
    parsed(T value) : value_(std::move(value)) {}
    static parsed failure(std::string why) { return parsed(std::nullopt, std::move(why)); }

    explicit operator bool() const noexcept { return value_.has_value(); }
    const T& value() const& { return *value_; }
    T&& value() && { return std::move(*value_); }
    const T& operator*() const& { return *value_; }
    const T* operator->() const { return &*value_; }
    // Empty on success.
    const std::string& error() const noexcept { return error_; }

private:
    parsed(std::nullopt_t, std::string why) : error_(std::move(why)) {}

    std::optional<T> value_;
    std::string error_;
};

// The largest duration: INT64_MAX nanoseconds, rounded down to milliseconds (~292 years).
inline constexpr duration max_duration{9'223'372'036'854};
// The largest size: INT64_MAX bytes (what the kernel's page counters can hold).
inline constexpr std::uint64_t max_size = 9'223'372'036'854'775'807;
// cpu.max bounds in µs per period: the kernel rejects quotas under 1 ms and over 2^44-1 µs.
inline constexpr std::uint64_t min_cpu_quota_us = 1'000;
inline constexpr std::uint64_t max_cpu_quota_us = (std::uint64_t{1} << 44) - 1;

// "0", or one or more <number><unit> with units ms, s, m, h from largest to smallest, each at
// most once ("1h30m", "1.5s"). The result must be a whole number of milliseconds.
parsed<duration> parse_duration(std::string_view text);

// <number>[unit], unit one of B, K, KiB, M, MiB, G, GiB, T, TiB; all powers of 1024 (K and
// KiB are the same, as in systemd). Fractions are allowed when the result is whole bytes.
parsed<std::uint64_t> parse_size(std::string_view text);

// parse_size, or "max".
parsed<limit_value> parse_size_limit(std::string_view text);

// "max", "<number>%" (percent of one core) or "<number>" (cores), as a cpu.max quota in µs
// per cpu_period_us: "50%" -> 50000, "1.5" -> 150000. Within [min_cpu_quota_us,
// max_cpu_quota_us] and a whole number of µs.
parsed<limit_value> parse_cpu(std::string_view text);

// Canonical spellings that parse back to the same value: "90s", "1500ms", "0ms".
std::string format_duration(duration value);
// "64MiB", "1536KiB", "123" (bytes).
std::string format_size(std::uint64_t bytes);
// "max", or percent of one core: "50%", "150%", "12.345%".
std::string format_cpu(limit_value quota_us);

} // namespace berth::config
