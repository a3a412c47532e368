// Includes: glob patterns, relative resolution, merging across files, duplicates and loops.
#include "config/detail/glob.hpp"
#include "config/loader.hpp"

#include "helpers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace berth::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::messages;
using testing::temp_dir;

std::vector<std::string> service_names(const load_result& r) {
    std::vector<std::string> names;
    if (r.fleet) {
        for (const auto& s : r.fleet->services) {
            names.push_back(s.name);
        }
    }
    return names;
}

std::string service(std::string_view name) {
    return "[service." + std::string(name) + "]\ncommand = [\"/bin/" + std::string(name) + "\"]\n";
}

TEST(GlobMatch, MatchesLikeFnmatch) {
    using detail::glob_match;
    EXPECT_TRUE(glob_match("*.toml", "web.toml"));
    EXPECT_FALSE(glob_match("*.toml", "web.toml.bak"));
    EXPECT_FALSE(glob_match("*.toml", ".hidden.toml"));
    EXPECT_TRUE(glob_match(".*.toml", ".hidden.toml"));
    EXPECT_TRUE(glob_match("?.toml", "a.toml"));
    EXPECT_FALSE(glob_match("?.toml", "ab.toml"));
    EXPECT_TRUE(glob_match("[ab].toml", "b.toml"));
    EXPECT_FALSE(glob_match("[ab].toml", "c.toml"));
    EXPECT_TRUE(glob_match("[!ab].toml", "c.toml"));
    EXPECT_TRUE(glob_match("[a-c]x", "bx"));
    EXPECT_TRUE(glob_match("[]]", "]"));
    EXPECT_TRUE(glob_match("[", "["));
    EXPECT_TRUE(glob_match("\\*", "*"));
    EXPECT_FALSE(glob_match("\\*", "a"));
    EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
    EXPECT_FALSE(glob_match("a*b*c", "aXXbYY"));
    EXPECT_TRUE(glob_match("**", "anything"));
    EXPECT_TRUE(detail::has_wildcard("conf.d/*.toml"));
    EXPECT_FALSE(detail::has_wildcard("conf.d/web.toml"));
}

TEST(Include, GlobIsSortedSkipsOtherFilesAndResolvesRelativeToTheIncluder) {
    temp_dir dir;
    const auto main =
        dir.write("fleet.toml", "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n" + service("main"));
    dir.write("conf.d/b.toml", service("b"));
    dir.write("conf.d/a.toml", service("a"));
    dir.write("conf.d/readme.txt", "not toml at all [[[");
    dir.write("conf.d/.hidden.toml", "not toml at all [[[");
    dir.write("conf.d/dir.toml/x.toml", service("nested_dir"));
    auto r = load_fleet(main);
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    EXPECT_THAT(service_names(r), ElementsAre("a", "b", "main"));
    EXPECT_THAT(r.files,
                ElementsAre(main, dir.path() / "conf.d/a.toml", dir.path() / "conf.d/b.toml"));
}

TEST(Include, NestedIncludesResolveAgainstTheirOwnDirectory) {
    temp_dir dir;
    const auto main = dir.write("fleet.toml", "[supervisor]\ninclude = [\"conf.d/a.toml\"]\n");
    dir.write("conf.d/a.toml", "[supervisor]\ninclude = [\"sub/*.toml\"]\n" + service("a"));
    dir.write("conf.d/sub/b.toml", service("b"));
    dir.write("sub/c.toml", service("wrong_directory"));
    auto r = load_fleet(main);
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    EXPECT_THAT(service_names(r), ElementsAre("a", "b"));
}

TEST(Include, AbsolutePatternsAndCharacterClasses) {
    temp_dir dir;
    dir.write("x/1.toml", service("one"));
    dir.write("x/2.toml", service("two"));
    dir.write("x/3.toml", service("three"));
    const auto pattern = (dir.path() / "x/[12].toml").string();
    auto r = load_fleet_from_string("[supervisor]\ninclude = [\"" + pattern + "\"]\n", "main");
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    EXPECT_THAT(service_names(r), ElementsAre("one", "two"));
}

TEST(Include, FromStringResolvesAgainstTheNamesDirectory) {
    temp_dir dir;
    dir.write("conf.d/a.toml", service("a"));
    auto r = load_fleet_from_string("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n",
                                    (dir.path() / "virtual.toml").string());
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    EXPECT_THAT(service_names(r), ElementsAre("a"));
}

TEST(Include, GlobMatchingNothingIsFine) {
    temp_dir dir;
    const auto main = dir.write("fleet.toml", "[supervisor]\ninclude = [\"conf.d/*.toml\", "
                                              "\"missing/dir/*/x.toml\"]\n");
    auto r = load_fleet(main);
    EXPECT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
}

TEST(Include, MissingPlainFileIsAnError) {
    temp_dir dir;
    const auto main = dir.write("fleet.toml", "[supervisor]\ninclude = [\"nope.toml\"]\n");
    auto r = load_fleet(main);
    EXPECT_THAT(messages(r),
                ElementsAre(main.string() + ":2:12: supervisor.include[0]: include \"" +
                            (dir.path() / "nope.toml").string() +
                            "\": read: No such file or directory"));
}

TEST(Include, DirectoryIsNotAFile) {
    temp_dir dir;
    dir.write("conf.d/a.toml", "");
    const auto main = dir.write("fleet.toml", "[supervisor]\ninclude = [\"conf.d\"]\n");
    auto r = load_fleet(main);
    EXPECT_THAT(messages(r),
                ElementsAre(main.string() + ":2:12: supervisor.include[0]: include \"" +
                            (dir.path() / "conf.d").string() + "\": read: not a regular file"));
}

TEST(Include, BadIncludeValues) {
    auto r = testing::load_text("[supervisor]\ninclude = \"conf.d/*.toml\"\n");
    EXPECT_THAT(messages(r), ElementsAre("fleet.toml:2:11: supervisor.include: expected an array "
                                         "of file patterns such as [\"conf.d/*.toml\"], got a "
                                         "string"));
    r = testing::load_text("[supervisor]\ninclude = [\"\", 3]\n");
    EXPECT_THAT(messages(r),
                ElementsAre("fleet.toml:2:12: supervisor.include[0]: expected a file pattern, "
                            "got \"\"",
                            "fleet.toml:2:16: supervisor.include[1]: expected a string, got an "
                            "integer"));
}

TEST(Include, DuplicateNamesAcrossFiles) {
    temp_dir dir;
    const auto main = dir.write("fleet.toml", "[supervisor]\nstate_dir = \"/run/a\"\n"
                                              "include = [\"conf.d/*.toml\"]\n" +
                                                  service("web") + "[image.base]\nref = \"x\"\n");
    const auto other =
        dir.write("conf.d/a.toml", "[supervisor]\nstate_dir = \"/run/b\"\n" + service("web") +
                                       "[image.base]\nref = \"y\"\n");
    auto r = load_fleet(main);
    const std::string m = main.string();
    const std::string o = other.string();
    EXPECT_THAT(
        messages(r),
        ElementsAre(
            o + ":2:1: supervisor.state_dir: set twice (first at " + m + ":2:1)",
            o + ":3:10: service.web: duplicate service \"web\" (first defined at " + m + ":4:10)",
            o + ":5:8: image.base: duplicate image \"base\" (first defined at " + m + ":6:8)"));
}

TEST(Include, ReferencesAcrossFiles) {
    temp_dir dir;
    const auto main = dir.write("fleet.toml", "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n"
                                              "[service.web]\ncommand = [\"/x\"]\n"
                                              "image = \"base\"\nrequires = [\"db\"]\n");
    dir.write("conf.d/db.toml", service("db") + "[image.base]\nlayers = [\"/l\"]\n");
    auto r = load_fleet(main);
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    EXPECT_THAT(service_names(r), ElementsAre("db", "web"));
}

TEST(Include, ErrorsInEveryFileAreReportedInLoadOrder) {
    temp_dir dir;
    const auto main = dir.write("fleet.toml", "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n"
                                              "[service.web]\ncommand = []\n");
    const auto a = dir.write("conf.d/a.toml", "[service.a]\ncommand = [\"/x\"\n");
    const auto b = dir.write("conf.d/b.toml", "[service.b]\ncommand = [\"/x\"]\nreplica = 2\n"
                                              "requires = [\"ghost\"]\n");
    auto r = load_fleet(main);
    EXPECT_THAT(
        messages(r),
        ElementsAre(main.string() + ":4:11: service.web.command: expected a non-empty array such "
                                    "as [\"/bin/httpd\", \"-f\"], got []",
                    a.string() + ":2:17: Error while parsing array: encountered end-of-file",
                    b.string() + ":3:1: service.b.replica: unknown key; did you mean "
                                 "'replicas'?"))
        << "a file that does not parse suppresses cross-file reference checks (ghost)";
}

TEST(Include, LoopsArePrinted) {
    temp_dir dir;
    const auto a = dir.write("a.toml", "[supervisor]\ninclude = [\"b.toml\"]\n");
    const auto b = dir.write("b.toml", "[supervisor]\ninclude = [\"a.toml\"]\n");
    auto r = load_fleet(a);
    EXPECT_THAT(messages(r),
                ElementsAre(b.string() +
                            ":2:12: supervisor.include[0]: include "
                            "loop: \"" +
                            a.string() + "\" -> \"" + b.string() + "\" -> \"" + a.string() + "\""));
}

TEST(Include, GlobThatMatchesTheIncluderIsALoop) {
    temp_dir dir;
    const auto main = dir.write("fleet.toml", "[supervisor]\ninclude = [\"*.toml\"]\n");
    dir.write("web.toml", service("web"));
    auto r = load_fleet(main);
    EXPECT_THAT(messages(r), ElementsAre(main.string() +
                                         ":2:12: supervisor.include[0]: include "
                                         "loop: \"" +
                                         main.string() + "\" -> \"" + main.string() + "\""));
}

TEST(Include, AFileIsIncludedOnce) {
    temp_dir dir;
    const auto main = dir.write("fleet.toml", "[supervisor]\ninclude = [\"conf.d/*.toml\", "
                                              "\"conf.d/a.toml\"]\n");
    const auto a = dir.write("conf.d/a.toml", service("a"));
    auto r = load_fleet(main);
    EXPECT_THAT(messages(r), ElementsAre(main.string() + ":2:29: supervisor.include[1]: \"" +
                                         a.string() + "\" is already included as \"" + a.string() +
                                         "\" (a file may be included once)"));
}

TEST(Include, SymlinkedFileIsTheSameFile) {
    temp_dir dir;
    const auto main = dir.write("fleet.toml", "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n");
    const auto a = dir.write("conf.d/a.toml", service("a"));
    std::filesystem::create_symlink(a, dir.path() / "conf.d/b.toml");
    auto r = load_fleet(main);
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_THAT(r.diagnostics[0].message, ::testing::HasSubstr("is already included as"));
}

TEST(Include, NoIncludeMeansNoOtherFiles) {
    temp_dir dir;
    const auto main = dir.write("fleet.toml", service("web"));
    dir.write("conf.d/a.toml", service("a"));
    auto r = load_fleet(main);
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(r.files, ElementsAre(main));
    EXPECT_THAT(r.diagnostics, IsEmpty());
}

} // namespace
} // namespace berth::config
