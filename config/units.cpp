// Exact decimal parsing of durations, sizes and CPU quotas (see units.hpp for the grammar).
#include "config/units.hpp"

#include <array>
#include <charconv>

namespace berth::config {
namespace {

using u128 = unsigned __int128;

// digits / 10^scale, the value of a decimal literal such as "1.50" (digits 15, scale 1).
struct decimal {
    std::uint64_t digits = 0;
    int scale = 0;
};

// Reads [0-9]+(\.[0-9]+)? from the front of text and removes it. Trailing fraction zeros are
// dropped so that "1.500000000000000000000" stays representable.
parsed<decimal> take_decimal(std::string_view& text) {
    std::size_t pos = 0;
    decimal d;
    bool any = false;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, any = true) {
        if (__builtin_mul_overflow(d.digits, 10, &d.digits) ||
            __builtin_add_overflow(d.digits, text[pos] - '0', &d.digits)) {
            return parsed<decimal>::failure("too large");
        }
    }
    if (pos < text.size() && text[pos] == '.') {
        std::size_t end = ++pos;
        while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
            ++end;
        }
        if (end == pos || !any) {
            return parsed<decimal>::failure("expected digits on both sides of '.'");
        }
        std::size_t last = end;
        while (last > pos && text[last - 1] == '0') {
            --last;
        }
        for (; pos < last; ++pos) {
            if (d.scale == 18 || __builtin_mul_overflow(d.digits, 10, &d.digits) ||
                __builtin_add_overflow(d.digits, text[pos] - '0', &d.digits)) {
                return parsed<decimal>::failure("too many digits");
            }
            ++d.scale;
        }
        pos = end;
    }
    if (!any) {
        return parsed<decimal>::failure("expected a number");
    }
    text.remove_prefix(pos);
    return d;
}

std::uint64_t power_of_ten(int n) {
    std::uint64_t p = 1;
    for (int i = 0; i < n; ++i) {
        p *= 10;
    }
    return p;
}

// d × factor as an exact integer no larger than limit.
parsed<std::uint64_t> scale_exact(decimal d, std::uint64_t factor, std::uint64_t limit,
                                  std::string_view whole_what) {
    const u128 product = u128{d.digits} * factor;
    const std::uint64_t divisor = power_of_ten(d.scale);
    if (product % divisor != 0) {
        return parsed<std::uint64_t>::failure("not a whole number of " + std::string(whole_what));
    }
    const u128 value = product / divisor;
    if (value > limit) {
        return parsed<std::uint64_t>::failure("too large");
    }
    return static_cast<std::uint64_t>(value);
}

// The unit text after a number: everything up to the next digit.
std::string_view take_unit(std::string_view& text) {
    std::size_t end = 0;
    while (end < text.size() && !(text[end] >= '0' && text[end] <= '9') && text[end] != '.') {
        ++end;
    }
    std::string_view unit = text.substr(0, end);
    text.remove_prefix(end);
    return unit;
}

std::string quoted_unit(std::string_view unit) {
    std::string out = "\"";
    for (char c : unit.substr(0, 16)) {
        out += (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
    }
    return out + (unit.size() > 16 ? "...\"" : "\"");
}

struct unit_factor {
    std::string_view name;
    std::uint64_t factor;
};

constexpr std::array<unit_factor, 4> duration_units{{
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

constexpr std::array<unit_factor, 10> size_units{{
    {"", 1},
    {"B", 1},
    {"K", 1ull << 10},
    {"KiB", 1ull << 10},
    {"M", 1ull << 20},
    {"MiB", 1ull << 20},
    {"G", 1ull << 30},
    {"GiB", 1ull << 30},
    {"T", 1ull << 40},
    {"TiB", 1ull << 40},
}};

template <std::size_t N>
const unit_factor* find_unit(const std::array<unit_factor, N>& units, std::string_view name) {
    for (const auto& u : units) {
        if (u.name == name) {
            return &u;
        }
    }
    return nullptr;
}

// Shared front matter: empty and negative inputs.
std::optional<std::string> reject_sign(std::string_view text) {
    if (text.empty()) {
        return "empty";
    }
    if (text.front() == '-') {
        return "negative values are not allowed";
    }
    return std::nullopt;
}

// One <number><unit> segment of a duration, in milliseconds; unit_index reports which unit.
parsed<std::uint64_t> take_duration_segment(std::string_view& text, std::size_t& unit_index) {
    auto number = take_decimal(text);
    if (!number) {
        return parsed<std::uint64_t>::failure(number.error());
    }
    const std::string_view unit = take_unit(text);
    if (unit.empty()) {
        return parsed<std::uint64_t>::failure("missing unit (use ms, s, m, h)");
    }
    const unit_factor* u = find_unit(duration_units, unit);
    if (u == nullptr) {
        return parsed<std::uint64_t>::failure("unknown unit " + quoted_unit(unit) +
                                              " (use ms, s, m, h)");
    }
    unit_index = static_cast<std::size_t>(u - duration_units.data());
    auto ms = scale_exact(*number, u->factor, static_cast<std::uint64_t>(max_duration.count()),
                          "milliseconds");
    if (!ms && ms.error() == "too large") {
        return parsed<std::uint64_t>::failure("too large (the limit is 2562047h)");
    }
    return ms;
}

std::string trim_zeros_fraction(std::uint64_t whole, std::uint64_t fraction, int width) {
    std::string out = std::to_string(whole);
    if (fraction == 0) {
        return out;
    }
    std::string digits = std::to_string(fraction);
    digits.insert(0, static_cast<std::size_t>(width) - digits.size(), '0');
    while (digits.back() == '0') {
        digits.pop_back();
    }
    return out + "." + digits;
}

} // namespace

parsed<duration> parse_duration(std::string_view text) {
    if (auto bad = reject_sign(text)) {
        return parsed<duration>::failure(*bad);
    }
    if (text == "0") {
        return duration{0};
    }
    std::uint64_t total = 0;
    std::size_t previous_unit = 0;
    bool first = true;
    while (!text.empty()) {
        std::size_t unit_index = 0;
        auto segment = take_duration_segment(text, unit_index);
        if (!segment) {
            return parsed<duration>::failure(segment.error());
        }
        if (!first && unit_index <= previous_unit) {
            return parsed<duration>::failure(
                "units must go from largest to smallest, each at most once (e.g. \"1m30s\")");
        }
        total += *segment;
        if (total > static_cast<std::uint64_t>(max_duration.count())) {
            return parsed<duration>::failure("too large (the limit is 2562047h)");
        }
        previous_unit = unit_index;
        first = false;
    }
    return duration{static_cast<std::int64_t>(total)};
}

parsed<std::uint64_t> parse_size(std::string_view text) {
    if (auto bad = reject_sign(text)) {
        return parsed<std::uint64_t>::failure(*bad);
    }
    auto number = take_decimal(text);
    if (!number) {
        return parsed<std::uint64_t>::failure(number.error());
    }
    const std::string_view unit = take_unit(text);
    if (!text.empty()) {
        return parsed<std::uint64_t>::failure("unexpected text after the unit");
    }
    const unit_factor* u = find_unit(size_units, unit);
    if (u == nullptr) {
        return parsed<std::uint64_t>::failure(
            "unknown unit " + quoted_unit(unit) +
            " (use K, M, G, T or KiB, MiB, GiB, TiB, all powers of 1024)");
    }
    return scale_exact(*number, u->factor, max_size, "bytes");
}

parsed<limit_value> parse_size_limit(std::string_view text) {
    if (text == "max") {
        return limit_value::max();
    }
    auto bytes = parse_size(text);
    if (!bytes) {
        return parsed<limit_value>::failure(bytes.error());
    }
    return limit_value::of(*bytes);
}

parsed<limit_value> parse_cpu(std::string_view text) {
    if (text == "max") {
        return limit_value::max();
    }
    if (auto bad = reject_sign(text)) {
        return parsed<limit_value>::failure(*bad);
    }
    auto number = take_decimal(text);
    if (!number) {
        return parsed<limit_value>::failure(number.error());
    }
    const std::string_view unit = take_unit(text);
    if (!text.empty()) {
        return parsed<limit_value>::failure("unexpected text after the unit");
    }
    if (unit != "" && unit != "%") {
        return parsed<limit_value>::failure("unknown unit " + quoted_unit(unit) +
                                            " (use \"50%\" of one core, or cores: \"1.5\")");
    }
    const std::uint64_t factor = unit == "%" ? cpu_period_us / 100 : cpu_period_us;
    auto quota = scale_exact(*number, factor, max_cpu_quota_us, "microseconds per period");
    if (!quota) {
        return parsed<limit_value>::failure(quota.error());
    }
    if (*quota == 0) {
        return parsed<limit_value>::failure("zero CPU would never run; use at least \"1%\"");
    }
    if (*quota < min_cpu_quota_us) {
        return parsed<limit_value>::failure("below the kernel's minimum of \"1%\" (1ms per 100ms)");
    }
    return limit_value::of(*quota);
}

std::string format_duration(duration value) {
    const auto ms = static_cast<std::uint64_t>(value.count());
    if (ms == 0) {
        return "0ms";
    }
    for (const auto& u : duration_units) {
        if (ms % u.factor == 0) {
            return std::to_string(ms / u.factor) + std::string(u.name);
        }
    }
    return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
    constexpr std::array<unit_factor, 4> iec{{
        {"TiB", 1ull << 40},
        {"GiB", 1ull << 30},
        {"MiB", 1ull << 20},
        {"KiB", 1ull << 10},
    }};
    if (bytes == 0) {
        return "0";
    }
    for (const auto& u : iec) {
        if (bytes % u.factor == 0) {
            return std::to_string(bytes / u.factor) + std::string(u.name);
        }
    }
    return std::to_string(bytes);
}

std::string format_cpu(limit_value quota_us) {
    if (quota_us.is_max()) {
        return "max";
    }
    const std::uint64_t per_percent = cpu_period_us / 100;
    return trim_zeros_fraction(quota_us.amount() / per_percent, quota_us.amount() % per_percent,
                               3) +
           "%";
}

} // namespace berth::config
