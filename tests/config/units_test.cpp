// Unit parsing: durations, sizes and CPU quotas, their edge cases and canonical spellings.
#include "config/units.hpp"

#include <gtest/gtest.h>

namespace berth::config {
namespace {

using namespace std::chrono_literals;

std::string duration_error(std::string_view text) {
    auto d = parse_duration(text);
    EXPECT_FALSE(d) << text;
    return d.error();
}

std::string size_error(std::string_view text) {
    auto s = parse_size(text);
    EXPECT_FALSE(s) << text;
    return s.error();
}

std::string cpu_error(std::string_view text) {
    auto c = parse_cpu(text);
    EXPECT_FALSE(c) << text;
    return c.error();
}

TEST(Duration, ParsesEachUnit) {
    EXPECT_EQ(*parse_duration("100ms"), 100ms);
    EXPECT_EQ(*parse_duration("10s"), 10s);
    EXPECT_EQ(*parse_duration("5m"), 5min);
    EXPECT_EQ(*parse_duration("2h"), 2h);
    EXPECT_EQ(*parse_duration("0"), 0ms);
    EXPECT_EQ(*parse_duration("0s"), 0ms);
}

TEST(Duration, ParsesFractionsAndCompounds) {
    EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
    EXPECT_EQ(*parse_duration("0.25m"), 15s);
    EXPECT_EQ(*parse_duration("1.500000000000000000000000s"), 1500ms);
    EXPECT_EQ(*parse_duration("1h30m"), 90min);
    EXPECT_EQ(*parse_duration("1m30s250ms"), 90250ms);
}

TEST(Duration, RejectsBadInput) {
    EXPECT_EQ(duration_error(""), "empty");
    EXPECT_EQ(duration_error("-5s"), "negative values are not allowed");
    EXPECT_EQ(duration_error("10"), "missing unit (use ms, s, m, h)");
    EXPECT_EQ(duration_error("10x"), "unknown unit \"x\" (use ms, s, m, h)");
    EXPECT_EQ(duration_error("10 s"), "unknown unit \" s\" (use ms, s, m, h)");
    EXPECT_EQ(duration_error("1.0005s"), "not a whole number of milliseconds");
    EXPECT_EQ(duration_error("0.5ms"), "not a whole number of milliseconds");
    EXPECT_EQ(duration_error(".5s"), "expected digits on both sides of '.'");
    EXPECT_EQ(duration_error("5.s"), "expected digits on both sides of '.'");
    EXPECT_EQ(duration_error("s"), "expected a number");
    EXPECT_EQ(duration_error("30s1m"),
              "units must go from largest to smallest, each at most once (e.g. \"1m30s\")");
    EXPECT_EQ(duration_error("1s1s"),
              "units must go from largest to smallest, each at most once (e.g. \"1m30s\")");
}

TEST(Duration, RejectsOverflow) {
    EXPECT_EQ(*parse_duration("2562047h"), 2562047h);
    EXPECT_EQ(*parse_duration("9223372036854ms"), max_duration);
    EXPECT_EQ(duration_error("9223372036855ms"), "too large (the limit is 2562047h)");
    EXPECT_EQ(duration_error("2562048h"), "too large (the limit is 2562047h)");
    EXPECT_EQ(duration_error("99999999999999999999s"), "too large");
    EXPECT_EQ(duration_error("2562047h47m16s854ms1ms"),
              "units must go from largest to smallest, each at most once (e.g. \"1m30s\")");
    EXPECT_EQ(duration_error("2562047h47m17s"), "too large (the limit is 2562047h)");
}

TEST(Duration, FormatsCanonically) {
    EXPECT_EQ(format_duration(0ms), "0ms");
    EXPECT_EQ(format_duration(1500ms), "1500ms");
    EXPECT_EQ(format_duration(90s), "90s");
    EXPECT_EQ(format_duration(2h), "2h");
    EXPECT_EQ(format_duration(max_duration), "9223372036854ms");
    for (auto d : {0ms, 1ms, 999ms, 1000ms, 61000ms, 3600000ms, max_duration}) {
        EXPECT_EQ(*parse_duration(format_duration(d)), d);
    }
}

TEST(Size, ParsesUnits) {
    EXPECT_EQ(*parse_size("0"), 0u);
    EXPECT_EQ(*parse_size("4096"), 4096u);
    EXPECT_EQ(*parse_size("12B"), 12u);
    EXPECT_EQ(*parse_size("64K"), 64u << 10);
    EXPECT_EQ(*parse_size("64KiB"), 64u << 10);
    EXPECT_EQ(*parse_size("64M"), 64u << 20);
    EXPECT_EQ(*parse_size("64MiB"), 64u << 20);
    EXPECT_EQ(*parse_size("2G"), 2ull << 30);
    EXPECT_EQ(*parse_size("2GiB"), 2ull << 30);
    EXPECT_EQ(*parse_size("1T"), 1ull << 40);
    EXPECT_EQ(*parse_size("1.5G"), 3ull << 29);
    EXPECT_EQ(*parse_size("0.5K"), 512u);
}

TEST(Size, RejectsBadInput) {
    const std::string units = " (use K, M, G, T or KiB, MiB, GiB, TiB, all powers of 1024)";
    EXPECT_EQ(size_error("64X"), "unknown unit \"X\"" + units);
    EXPECT_EQ(size_error("64MB"), "unknown unit \"MB\"" + units);
    EXPECT_EQ(size_error("64k"), "unknown unit \"k\"" + units);
    EXPECT_EQ(size_error("-1G"), "negative values are not allowed");
    EXPECT_EQ(size_error("0.3K"), "not a whole number of bytes");
    EXPECT_EQ(size_error("1K5"), "unexpected text after the unit");
    EXPECT_EQ(size_error("max"), "expected a number");
    EXPECT_EQ(size_error(""), "empty");
}

TEST(Size, RejectsOverflow) {
    EXPECT_EQ(*parse_size("9223372036854775807"), max_size);
    EXPECT_EQ(size_error("9223372036854775808"), "too large");
    EXPECT_EQ(size_error("8388608T"), "too large"); // 2^63
    EXPECT_EQ(size_error("18446744073709551616"), "too large");
    EXPECT_EQ(*parse_size("8388607T"), 8388607ull << 40);
}

TEST(Size, LimitAcceptsMax) {
    EXPECT_EQ(*parse_size_limit("max"), limit_value::max());
    EXPECT_EQ(*parse_size_limit("64M"), limit_value::of(64u << 20));
    EXPECT_FALSE(parse_size_limit("MAX"));
    EXPECT_TRUE(limit_value::max().is_max());
    EXPECT_NE(limit_value::max(), limit_value::of(0));
}

TEST(Size, FormatsCanonically) {
    EXPECT_EQ(format_size(0), "0");
    EXPECT_EQ(format_size(123), "123");
    EXPECT_EQ(format_size(64u << 20), "64MiB");
    EXPECT_EQ(format_size(1536u << 10), "1536KiB");
    EXPECT_EQ(format_size(3ull << 40), "3TiB");
    for (std::uint64_t b :
         std::initializer_list<std::uint64_t>{0, 1, 1023, 1024, 3ull << 29, max_size}) {
        EXPECT_EQ(*parse_size(format_size(b)), b);
    }
}

TEST(Cpu, ParsesPercentCoresAndMax) {
    EXPECT_EQ(*parse_cpu("50%"), limit_value::of(50'000));
    EXPECT_EQ(*parse_cpu("1.5"), limit_value::of(150'000));
    EXPECT_EQ(*parse_cpu("2"), limit_value::of(200'000));
    EXPECT_EQ(*parse_cpu("150%"), limit_value::of(150'000));
    EXPECT_EQ(*parse_cpu("12.345%"), limit_value::of(12'345));
    EXPECT_EQ(*parse_cpu("1%"), limit_value::of(1'000));
    EXPECT_EQ(*parse_cpu("max"), limit_value::max());
}

TEST(Cpu, RejectsBadInput) {
    EXPECT_EQ(cpu_error("0"), "zero CPU would never run; use at least \"1%\"");
    EXPECT_EQ(cpu_error("0%"), "zero CPU would never run; use at least \"1%\"");
    EXPECT_EQ(cpu_error("0.5%"), "below the kernel's minimum of \"1%\" (1ms per 100ms)");
    EXPECT_EQ(cpu_error("-1"), "negative values are not allowed");
    EXPECT_EQ(cpu_error("50 %"),
              "unknown unit \" %\" (use \"50%\" of one core, or cores: \"1.5\")");
    EXPECT_EQ(cpu_error("2c"), "unknown unit \"c\" (use \"50%\" of one core, or cores: \"1.5\")");
    EXPECT_EQ(cpu_error("1.0000001"), "not a whole number of microseconds per period");
    EXPECT_EQ(cpu_error("175921861"), "too large");
    EXPECT_EQ(cpu_error(""), "empty");
}

TEST(Cpu, FormatsAsPercent) {
    EXPECT_EQ(format_cpu(limit_value::max()), "max");
    EXPECT_EQ(format_cpu(limit_value::of(50'000)), "50%");
    EXPECT_EQ(format_cpu(limit_value::of(150'000)), "150%");
    EXPECT_EQ(format_cpu(limit_value::of(12'345)), "12.345%");
    EXPECT_EQ(format_cpu(limit_value::of(1'010)), "1.01%");
    for (std::uint64_t q :
         std::initializer_list<std::uint64_t>{1'000, 1'001, 99'999, max_cpu_quota_us}) {
        EXPECT_EQ(*parse_cpu(format_cpu(limit_value::of(q))), limit_value::of(q));
    }
}

} // namespace
} // namespace berth::config
