// Broken input never crashes the loader or escapes it as an exception: binary junk, huge
// strings, deep nesting, oversized files, and every single-byte mutation of a valid fleet.
#include "config/detail/parse_guard.hpp"
#include "config/loader.hpp"
#include "config/normalize.hpp"

#include "helpers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

namespace berth::config {
namespace {

using ::testing::ElementsAre;
using namespace std::string_literals;

bool check_before_parse_ok(std::string_view text) {
    return !detail::check_before_parse(text);
}
using ::testing::HasSubstr;

constexpr std::string_view valid_fleet = R"([supervisor]
state_dir = "/run/berth"
[image.base]
layers = ["/l"]
[service.web]
image = "base"
command = ["/bin/httpd", "-f"]
replicas = 3
after = ["db"]
env = { MODE = "prod" }
volumes = ["data-{replica}:/d:ro"]
readiness = { exec = ["/bin/check"], retries = 2 }
[service.web.limits]
memory_max = "64M"
cpu_max = "50%"
cpuset_cpus = "0-1"
[service.db]
command = ["/bin/db"]
)";

// Loads text; when it loads, the normalized rendering must load back to an equal fleet.
void load_and_check(std::string_view text) {
    const load_result r = load_fleet_from_string(text, "junk.toml", load_options{false});
    ASSERT_EQ(r.ok(), r.diagnostics.empty());
    if (!r.ok()) {
        for (const auto& d : r.diagnostics) {
            ASSERT_FALSE(d.message.empty());
        }
        return;
    }
    const auto again = load_fleet_from_string(render_toml(*r.fleet), "again.toml");
    ASSERT_TRUE(again.ok()) << format_diagnostics(again.diagnostics);
    ASSERT_EQ(*r.fleet, *again.fleet);
}

TEST(Robustness, BinaryJunk) {
    std::mt19937 random(12345);
    for (int round = 0; round < 2000; ++round) {
        std::string junk(random() % 512, '\0');
        for (char& c : junk) {
            c = static_cast<char>(random());
        }
        load_and_check(junk);
    }
}

TEST(Robustness, EverySingleByteMutationOfAValidFleet) {
    load_and_check(valid_fleet);
    const std::string replacements = "\0\"'[]{}=.,#\n\\x9-"s;
    ASSERT_EQ(replacements.size(), 16u) << "the leading NUL must not end the string";
    for (std::size_t i = 0; i < valid_fleet.size(); ++i) {
        std::string deleted(valid_fleet);
        deleted.erase(i, 1);
        load_and_check(deleted);
        for (char c : replacements) {
            std::string changed(valid_fleet);
            changed[i] = c;
            load_and_check(changed);
        }
    }
}

TEST(Robustness, TenMegabyteStrings) {
    const std::string huge(10 << 20, 'x');
    auto r = testing::load_text("[service.web]\ncommand = [\"/x\"]\nhostname = \"" + huge + "\"\n");
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_LT(r.diagnostics[0].to_string().size(), 400u) << "the value is cut in the message";
    EXPECT_THAT(r.diagnostics[0].message, HasSubstr("a hostname must be 1 to 64 bytes long"));

    r = testing::load_text("[service.web]\ncommand = [\"/x\"]\n\"" + huge + "\" = 1\n");
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_LT(r.diagnostics[0].to_string().size(), 200u) << "the key is cut in the key path";

    r = testing::load_text("[service.web]\ncommand = [\"/x\", \"" + huge + "\"]\n");
    ASSERT_TRUE(r.ok()) << "a long argument is legitimate";
    EXPECT_EQ(r.fleet->services[0].command[1].size(), huge.size());

    r = testing::load_text("[service.web]\ncommand = [\"/x\"]\nstop_timeout = \"" +
                           std::string(1 << 20, '9') + "s\"\n");
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_THAT(r.diagnostics[0].message, HasSubstr(": too large"));
}

TEST(Robustness, DeepDottedKeysAreRejectedBeforeParsing) {
    std::string deep;
    for (int i = 0; i < 100'000; ++i) {
        deep += "a.";
    }
    auto r = testing::load_text(deep + "b = 1\n");
    EXPECT_THAT(testing::messages(r),
                ElementsAre("fleet.toml:1:66: key nested too deeply (at most 33 parts)"));
    r = testing::load_text("[" + deep + "b]\n");
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_EQ(r.diagnostics[0].message, "key nested too deeply (at most 33 parts)");
}

TEST(Robustness, DeepArraysAndInlineTablesAreRejected) {
    auto r = testing::load_text("x = " + std::string(100'000, '[') + std::string(100'000, ']'));
    EXPECT_THAT(testing::messages(r),
                ElementsAre("fleet.toml:1:69: arrays or tables nested too deeply (at most 64 "
                            "levels)"));
    std::string tables = "x = ";
    for (int i = 0; i < 10'000; ++i) {
        tables += "{ a = ";
    }
    r = testing::load_text(tables);
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_EQ(r.diagnostics[0].message, "arrays or tables nested too deeply (at most 64 levels)");
}

TEST(Robustness, ParseGuardIgnoresStringsAndComments) {
    using detail::check_before_parse;
    const std::string dots(1000, '.');
    EXPECT_FALSE(check_before_parse("a = \"" + dots + "\"\n"));
    EXPECT_FALSE(check_before_parse("a = '" + dots + "'\n"));
    EXPECT_FALSE(check_before_parse("a = \"\"\"\n" + dots + "\n\"\"\"\n"));
    EXPECT_FALSE(check_before_parse("a = '''" + dots + "'''\n"));
    EXPECT_FALSE(check_before_parse("# " + dots + "\n"));
    EXPECT_FALSE(check_before_parse("a = \"\\\"" + dots + "\"\n"));
    EXPECT_FALSE(check_before_parse("a = [" + std::string(63, '[') + "]"));
    EXPECT_TRUE(check_before_parse("a = " + std::string(65, '[')));
    std::string dotted = "a";
    for (int i = 0; i < 16; ++i) {
        dotted += ".\"q\" . b"; // two dots
    }
    EXPECT_FALSE(check_before_parse(dotted + " = 1\n"));
    EXPECT_FALSE(check_before_parse("[" + dotted + "]\n" + dotted + " = { " + dotted + " = 1 }"));
    EXPECT_TRUE(check_before_parse(dotted + ".c = 1\n"));
    EXPECT_TRUE(check_before_parse("[" + dotted + ".c]\n"));
    EXPECT_TRUE(check_before_parse("x = { " + dotted + ".c = 1 }\n"));
    std::string many_short_keys;
    for (int i = 0; i < 1000; ++i) {
        many_short_keys += "a.b.c = 1\n";
    }
    EXPECT_FALSE(check_before_parse(many_short_keys));
    EXPECT_FALSE(check_before_parse("x = 1.5\ny = [1.5, 2.5, 3.5]\n"));
}

TEST(Robustness, NonAsciiWhereTomlppMisbehaves) {
    // toml++ 3.3 reaches __builtin_unreachable() on these (its issue #190).
    EXPECT_THAT(testing::messages(testing::load_text("a = [\"x\", \u00fc]\n")),
                ElementsAre("fleet.toml:1:11: a non-ASCII character outside a string or "
                            "comment"));
    EXPECT_THAT(testing::messages(testing::load_text("s = \"\"\"\\\n  \u00a7\"\"\"\n")),
                ElementsAre("fleet.toml:2:3: a non-ASCII character right after a backslash in "
                            "a multi-line string is not supported (toml++ 3.3 bug); escape it as "
                            "\\uXXXX"));
    EXPECT_FALSE(check_before_parse_ok("s = \"\"\"\\\u00fc\"\"\"\n"));
    // Non-ASCII where TOML allows it is fine.
    const service s = testing::only_service("# k\u00f6nig\n[service.web] # \u00fc\ncommand = "
                                            "[\"/\u00fc\", '\u00e9', \"\"\"\n\u00a7\"\"\"]\n");
    EXPECT_EQ(s.command[1], "\u00e9");
    EXPECT_EQ(s.command[2], "\u00a7");
}

TEST(Robustness, NulBytesAndInvalidUtf8) {
    auto r = testing::load_text(std::string("[service.web]\0command = 1", 25));
    EXPECT_FALSE(r.ok());
    r = testing::load_text("[service.web]\ncommand = [\"/x\xff\xfe\"]\n");
    EXPECT_FALSE(r.ok());
    r = testing::load_text("\xef\xbb\xbf[service.web]\ncommand = [\"/x\"]\n");
    EXPECT_TRUE(r.ok()) << "a UTF-8 byte order mark is fine: " << format_diagnostics(r.diagnostics);
}

TEST(Robustness, ManyServicesAndDeepDependencyChains) {
    std::string text;
    for (int i = 0; i < 20'000; ++i) {
        text += "[service.s" + std::to_string(i) + "]\ncommand = [\"/x\"]\n";
        if (i > 0) {
            text += "after = [\"s" + std::to_string(i - 1) + "\"]\n";
        }
    }
    auto chain = testing::load_text(text);
    ASSERT_TRUE(chain.ok()) << format_diagnostics(chain.diagnostics);
    EXPECT_EQ(start_order(*chain.fleet).front()->name, "s0");
    EXPECT_EQ(start_order(*chain.fleet).back()->name, "s19999");
    // s5 also after s10: a cycle of six services inside the chain.
    const std::string s5_after = "after = [\"s4\"]";
    std::string short_cycle = text;
    short_cycle.replace(short_cycle.find(s5_after), s5_after.size(), "after = [\"s4\", \"s10\"]");
    auto cycle = testing::load_text(short_cycle);
    EXPECT_THAT(testing::messages(cycle),
                ElementsAre("fleet.toml:32:10: service.s10.after[0]: dependency cycle: s10 -> s9 "
                            "-> s8 -> s7 -> s6 -> s5 -> s10"));
    auto loop = testing::load_text(
        std::string(text).replace(text.find("command"), 0, "after = [\"s19999\"]\n"));
    ASSERT_EQ(loop.diagnostics.size(), 1u);
    EXPECT_THAT(loop.diagnostics[0].message, HasSubstr("dependency cycle: s0 -> s19999 -> "));
}

TEST(Robustness, OversizedFileIsRejected) {
    testing::temp_dir dir;
    const auto path = dir.write("big.toml", "# " + std::string(max_file_size, 'x'));
    auto r = load_fleet(path);
    EXPECT_THAT(testing::messages(r),
                ElementsAre(path.string() + ": read: larger than 64 MiB, the limit for a fleet "
                                            "file"));
}

TEST(Robustness, ReadingADirectoryOrDeviceIsAnError) {
    auto r = load_fleet("/");
    EXPECT_THAT(testing::messages(r), ElementsAre("/: read: not a regular file"));
    r = load_fleet("/dev/zero");
    EXPECT_THAT(testing::messages(r), ElementsAre("/dev/zero: read: not a regular file"));
}

} // namespace
} // namespace berth::config
