// The built berth binary's command line: `berth check` on fleet files (output, errors, exit
// codes 0, 1 and 2 as --help documents them) and usage errors.
#include "tests/common/temp_dir.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

using berth::test::temp_dir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string berth_path = BERTH_PATH;

constexpr std::string_view valid_fleet = R"([supervisor]
state_dir = "/run/berth-test"
[image.base]
layers = ["/srv/layers/base"]
[service.web]
image = "base"
command = ["/bin/httpd", "-f"]
replicas = 2
requires = ["db"]
[service.web.limits]
memory_max = "64M"
[service.db]
command = ["/bin/db"]
)";

struct run_result {
    int exit_code = -1; // -1: killed by a signal
    std::string out;
    std::string err;
};

std::string read_all(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Runs berth with args, its stdout and stderr captured in files of dir.
run_result run_berth(const temp_dir& dir, std::vector<std::string> args) {
    const auto out = dir.path() / "berth.stdout";
    const auto err = dir.path() / "berth.stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    args.insert(args.begin(), berth_path);
    std::vector<char*> argv;
    for (std::string& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, berth_path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        ADD_FAILURE() << "posix_spawn " << berth_path << ": " << std::strerror(rc);
        return {};
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_all(out), read_all(err)};
}

TEST(BerthCheck, ValidFilePrintsTheNormalizedFleetWhichLoadsBack) {
    temp_dir dir;
    const auto file = dir.write("fleet.toml", valid_fleet);
    const run_result first = run_berth(dir, {"check", file.string()});
    EXPECT_EQ(first.exit_code, 0) << first.err;
    EXPECT_EQ(first.err, "");
    EXPECT_THAT(first.out, HasSubstr("[service.web]"));
    EXPECT_THAT(first.out, HasSubstr("stop_timeout = \"10s\"")) << "defaults are filled in";

    const auto normalized = dir.write("normalized.toml", first.out);
    const run_result again = run_berth(dir, {"check", normalized.string()});
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.err, "");
    EXPECT_EQ(again.out, first.out) << "the normalized fleet is a fixed point";
}

TEST(BerthCheck, EveryErrorGoesToStderrWithItsPosition) {
    temp_dir dir;
    const auto file = dir.write("fleet.toml", "[service.web]\ncommand = [\"/x\"]\n"
                                              "replicas = 100001\nreplica = 3\n");
    const run_result r = run_berth(dir, {"check", file.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, file.string() +
                         ":3:12: service.web.replicas: expected an integer from 0 to "
                         "100000, got 100001\n" +
                         file.string() +
                         ":4:1: service.web.replica: unknown key; did you mean "
                         "'replicas'?\n"
                         "berth: " +
                         file.string() + ": 2 errors\n");
}

TEST(BerthCheck, UnreadableFileIsAnErrorOfTheFile) {
    temp_dir dir;
    const std::string missing = (dir.path() / "missing.toml").string();
    const run_result r = run_berth(dir, {"check", missing});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err,
              missing + ": read: No such file or directory\nberth: " + missing + ": 1 error\n");
}

TEST(BerthCheck, BadUsageExitsWithTwo) {
    temp_dir dir;
    const std::string file = dir.write("fleet.toml", valid_fleet).string();
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"frobnicate"}, "berth: unknown command 'frobnicate'"},
        {{"check"}, "berth: check needs exactly one fleet file"},
        {{"check", file, file}, "berth: check needs exactly one fleet file"},
        {{"--log-level", "loud", "check", file},
         "berth: --log-level needs one of trace, debug, info, warn, error, critical, off"},
        {{"check", file, "--log-level"},
         "berth: --log-level needs one of trace, debug, info, warn, error, critical, off"},
        {{"--frobnicate", "check", file}, "berth: unknown option '--frobnicate'"},
    };
    for (const auto& [args, message] : cases) {
        SCOPED_TRACE(::testing::PrintToString(args));
        const run_result r = run_berth(dir, args);
        EXPECT_EQ(r.exit_code, 2);
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(r.err, message + "\nTry 'berth --help'.\n");
    }
}

TEST(BerthCheck, ValidLogLevelIsAccepted) {
    temp_dir dir;
    const auto file = dir.write("fleet.toml", valid_fleet);
    const run_result r = run_berth(dir, {"--log-level", "debug", "check", file.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, StartsWith("[supervisor]"));
}

} // namespace
