// Unit tests of the text format writer: escaping, numbers, grouping by family, and that every
// family berth renders itself has a valid name, help and suffix.
#include "metrics/container_table.hpp"
#include "metrics/service_table.hpp"
#include "metrics/text.hpp"
#include "tests/metrics/exposition.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace berth::metrics {
namespace {

TEST(metrics_text, escapes_label_values) {
    EXPECT_EQ(text::escape_label_value("plain"), "plain");
    EXPECT_EQ(text::escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    EXPECT_EQ(text::label_set("service", "we\"b", "replica", "2"),
              "service=\"we\\\"b\",replica=\"2\"");
}

TEST(metrics_text, writes_numbers_exactly_or_shortest) {
    std::string out;
    text::append_number(out, std::uint64_t{18446744073709551615u});
    out += ' ';
    text::append_number(out, 1.5);
    out += ' ';
    text::append_number(out, 0.000002);
    out += ' ';
    text::append_number(out, 3.0);
    out += ' ';
    text::append_number(out, std::numeric_limits<double>::infinity());
    out += ' ';
    text::append_number(out, std::numeric_limits<double>::quiet_NaN());
    EXPECT_EQ(out, "18446744073709551615 1.5 2e-06 3 +Inf NaN");
}

TEST(metrics_text, groups_lines_by_family_and_leaves_out_empty_families) {
    const std::array<text::family, 3> families = {{
        {"t_a_total", "A.", text::kind::counter},
        {"t_b", "B.", text::kind::gauge},
        {"t_c", "C.", text::kind::gauge},
    }};
    text::segments<3> one;
    text::segments<3> two;
    for (auto* s : {&one, &two}) {
        s->clear();
        std::string labels = text::label_set("id", s == &one ? "1" : "2");
        text::append_sample(s->buffer(), "t_a_total", labels, std::uint64_t{1});
        s->end_family();
        if (s == &two) {
            text::append_sample(s->buffer(), "t_b", labels, 2.5);
        }
        s->end_family();
        s->end_family(); // t_c: nobody has a sample
    }
    std::vector<const text::segments<3>*> entities = {&one, &two};
    std::string out;
    text::append_families<3>(out, families, entities);
    EXPECT_EQ(out, "# HELP t_a_total A.\n# TYPE t_a_total counter\n"
                   "t_a_total{id=\"1\"} 1\nt_a_total{id=\"2\"} 1\n"
                   "# HELP t_b B.\n# TYPE t_b gauge\nt_b{id=\"2\"} 2.5\n");
    auto parsed = testing::parse(out);
    EXPECT_TRUE(parsed.errors.empty()) << parsed.errors.front();
    EXPECT_EQ(parsed.value("t_b", {{"id", "2"}}), 2.5);
}

TEST(metrics_text, rerendering_replaces_the_previous_lines) {
    text::segments<2> s;
    for (std::uint64_t v : {1u, 22u}) {
        s.clear();
        text::append_sample(s.buffer(), "x", "a=\"b\"", v);
        s.end_family();
        s.end_family();
    }
    EXPECT_EQ(s.family_lines(0), "x{a=\"b\"} 22\n");
    EXPECT_EQ(s.family_lines(1), "");
}

// [a-zA-Z_:][a-zA-Z0-9_:]*, the metric name syntax. (No std::regex: GCC 12 warns falsely
// inside it under ASan.)
bool valid_metric_name(std::string_view n) {
    auto letter = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    };
    if (n.empty() || !letter(n.front())) {
        return false;
    }
    return std::all_of(n.begin(), n.end(),
                       [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

TEST(metrics_text, the_name_check_itself) {
    EXPECT_TRUE(valid_metric_name("berth_x:y_1"));
    EXPECT_FALSE(valid_metric_name("1x"));
    EXPECT_FALSE(valid_metric_name("a-b"));
    EXPECT_FALSE(valid_metric_name(""));
}

template <std::size_t N> void check_families(const std::array<text::family, N>& families) {
    for (const auto& f : families) {
        std::string n(f.name);
        EXPECT_TRUE(valid_metric_name(n)) << n;
        EXPECT_TRUE(n.starts_with("berth_")) << n;
        EXPECT_EQ(n.ends_with("_total"), f.type == text::kind::counter) << n;
        EXPECT_EQ(f.help.find_first_of("\n\\"), std::string_view::npos) << n;
        EXPECT_FALSE(f.help.empty()) << n;
    }
}

TEST(metrics_text, berths_own_families_follow_the_naming_conventions) {
    check_families(container_families);
    check_families(service_families);
}

} // namespace
} // namespace berth::metrics
