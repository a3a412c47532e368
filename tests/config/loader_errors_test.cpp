// Loading single fleet files: every class of error with its full message (file:line:col,
// key path, what was expected).
#include "config/loader.hpp"

#include "helpers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

namespace berth::config {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing::load_text;
using testing::messages;
using testing::only_service;

// One error expected: returns its full text.
std::string single_error(std::string_view text) {
    auto r = load_text(text);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.diagnostics.size(), 1u) << format_diagnostics(r.diagnostics);
    return r.diagnostics.empty() ? std::string() : r.diagnostics.front().to_string();
}

// A fleet with one service "web" whose extra settings are `keys`; its single error.
std::string service_error(std::string_view keys) {
    return single_error("[service.web]\ncommand = [\"/bin/true\"]\n" + std::string(keys) + "\n");
}

TEST(LoadErrors, SyntaxErrorHasTomlPosition) {
    EXPECT_EQ(single_error("[service.web]\ncommand = [\"/bin/true\"\nreplicas = 3\n"),
              "fleet.toml:3:1: Error while parsing array: expected comma or closing ']', saw 'r'");
    EXPECT_EQ(single_error("[service.web]\ncommand = [\"/x\"]\n[service.web]\n"),
              "fleet.toml:3:1: Error while parsing table header: cannot redefine existing table "
              "'service.web'");
}

TEST(LoadErrors, UnknownKeySuggestsTheNearest) {
    EXPECT_EQ(service_error("replica = 3"),
              "fleet.toml:3:1: service.web.replica: unknown key; did you mean 'replicas'?");
    EXPECT_EQ(service_error("[service.web.limits]\nmemory_maxx = \"1G\""),
              "fleet.toml:4:1: service.web.limits.memory_maxx: unknown key; did you mean "
              "'memory_max'?");
    EXPECT_EQ(single_error("[supervisor]\nstate_dri = \"/run/b\"\n"),
              "fleet.toml:2:1: supervisor.state_dri: unknown key; did you mean 'state_dir'?");
    EXPECT_EQ(single_error("[supervisor]\nincludes = []\n"),
              "fleet.toml:2:1: supervisor.includes: unknown key; did you mean 'include'?");
    EXPECT_EQ(single_error("[services.web]\ncommand = [\"/x\"]\n"),
              "fleet.toml:1:2: services: unknown key; did you mean 'service'?");
    EXPECT_EQ(service_error("frobnicate = 1"),
              "fleet.toml:3:1: service.web.frobnicate: unknown key");
    EXPECT_EQ(service_error("\"odd key\" = 1"),
              "fleet.toml:3:1: service.web.\"odd key\": unknown key");
}

TEST(LoadErrors, WrongTypes) {
    EXPECT_EQ(service_error("replicas = \"3\""),
              "fleet.toml:3:12: service.web.replicas: expected an integer from 0 to 100000, got "
              "a string");
    EXPECT_EQ(service_error("stop_timeout = 5"),
              "fleet.toml:3:16: service.web.stop_timeout: expected a duration such as \"10s\" "
              "(units ms, s, m, h), got an integer (a bare number has no unit)");
    EXPECT_EQ(service_error("init = \"yes\""),
              "fleet.toml:3:8: service.web.init: expected true or false, got a string");
    EXPECT_EQ(single_error("[service.web]\ncommand = \"/bin/httpd -f\"\n"),
              "fleet.toml:2:11: service.web.command: expected an array of strings, got a string");
    EXPECT_EQ(single_error("service = 3\n"),
              "fleet.toml:1:11: service: expected a table of services ([service.NAME]), got an "
              "integer");
    EXPECT_EQ(single_error("[[service]]\n"),
              "fleet.toml:1:1: service: expected a table of services ([service.NAME]), got an "
              "array");
}

TEST(LoadErrors, UnitErrorsNameKeyAndExpectation) {
    EXPECT_EQ(service_error("[service.web.limits]\nmemory_max = \"64X\""),
              "fleet.toml:4:14: service.web.limits.memory_max: expected a size such as \"64M\" "
              "or a number of bytes, got \"64X\": unknown unit \"X\" (use K, M, G, T or KiB, "
              "MiB, GiB, TiB, all powers of 1024)");
    EXPECT_EQ(service_error("[service.web.limits]\nmemory_max = \"0\""),
              "fleet.toml:4:14: service.web.limits.memory_max: expected a size greater than 0, "
              "got \"0\"");
    EXPECT_EQ(service_error("[service.web.limits]\nmemory_high = -5"),
              "fleet.toml:4:15: service.web.limits.memory_high: expected a size such as \"64M\" "
              "or a number of bytes, got -5: negative values are not allowed");
    EXPECT_EQ(service_error("[service.web.limits]\nmemory_max = \"99999999T\""),
              "fleet.toml:4:14: service.web.limits.memory_max: expected a size such as \"64M\" "
              "or a number of bytes, got \"99999999T\": too large");
    EXPECT_EQ(service_error("stop_timeout = \"0s\""),
              "fleet.toml:3:16: service.web.stop_timeout: expected a duration greater than 0, "
              "got \"0s\"");
    EXPECT_EQ(service_error("restart_delay = \"1.5\""),
              "fleet.toml:3:17: service.web.restart_delay: expected a duration such as \"10s\" "
              "(units ms, s, m, h), got \"1.5\": missing unit (use ms, s, m, h)");
    EXPECT_EQ(service_error("[service.web.limits]\ncpu_max = \"0%\""),
              "fleet.toml:4:11: service.web.limits.cpu_max: expected a CPU share such as \"50%\" "
              "(of one core), \"1.5\" (cores) or \"max\", got \"0%\": zero CPU would never run; "
              "use at least \"1%\"");
    EXPECT_EQ(service_error("[service.web.limits]\ncpu_max = -1.5"),
              "fleet.toml:4:11: service.web.limits.cpu_max: expected a CPU share such as \"50%\" "
              "(of one core), \"1.5\" (cores) or \"max\", got -1.5: negative values are not "
              "allowed");
    EXPECT_EQ(service_error("[service.web.limits]\npids_max = 0"),
              "fleet.toml:4:12: service.web.limits.pids_max: expected a number of processes "
              "from 1, or \"max\", got 0");
    EXPECT_EQ(service_error("[service.web.limits]\nio_weight = 10001"),
              "fleet.toml:4:13: service.web.limits.io_weight: expected an integer from 1 to "
              "10000, got 10001");
    EXPECT_EQ(service_error("log_max_size = \"0\""),
              "fleet.toml:3:16: service.web.log_max_size: expected a size greater than 0, got "
              "\"0\"");
}

TEST(LoadErrors, ReplicasOutOfRange) {
    EXPECT_EQ(service_error("replicas = 100001"),
              "fleet.toml:3:12: service.web.replicas: expected an integer from 0 to 100000, got "
              "100001");
    EXPECT_EQ(service_error("replicas = -1"),
              "fleet.toml:3:12: service.web.replicas: expected an integer from 0 to 100000, got "
              "-1");
    EXPECT_EQ(only_service("[service.web]\ncommand = [\"/x\"]\nreplicas = 100000\n").replicas,
              100'000u);
}

TEST(LoadErrors, Commands) {
    EXPECT_EQ(single_error("[service.web]\ncommand = []\n"),
              "fleet.toml:2:11: service.web.command: expected a non-empty array such as "
              "[\"/bin/httpd\", \"-f\"], got []");
    EXPECT_EQ(single_error("[service.web]\nreplicas = 1\n"),
              "fleet.toml:1:10: service.web.command: required key is missing: the program and "
              "its arguments, e.g. command = [\"/bin/httpd\"]");
    EXPECT_EQ(single_error("[image.base]\nlayers = [\"/l\"]\n[service.web]\nimage = \"base\"\n"),
              "fleet.toml:3:10: service.web.command: required key is missing: the program and "
              "its arguments, e.g. command = [\"/bin/httpd\"] (only an imported image, ref = "
              "..., brings a default command)");
    EXPECT_EQ(single_error("[image.base]\nlayers = [\"/l\"]\n[service.web]\nimage = \"nope\"\n"),
              "fleet.toml:4:9: service.web.image: unknown image \"nope\"");
    EXPECT_TRUE(only_service("[image.app]\nref = \"app:1\"\n[service.web]\nimage = \"app\"\n")
                    .command.empty())
        << "an imported image's Entrypoint and Cmd are the default";
    EXPECT_EQ(single_error("[service.web]\ncommand = [\"httpd\"]\n"),
              "fleet.toml:2:11: service.web.command[0]: expected an absolute path to the program "
              "(there is no PATH lookup), got \"httpd\"");
    EXPECT_EQ(single_error("[service.web]\ncommand = [\"/x\", 3]\n"),
              "fleet.toml:2:18: service.web.command[1]: expected a string, got an integer");
    EXPECT_EQ(single_error("[service.web]\ncommand = [\"/x\", \"a\\u0000b\"]\n"),
              "fleet.toml:2:18: service.web.command[1]: a string here cannot hold a NUL byte "
              "(\\u0000)");
}

TEST(LoadErrors, UnknownImage) {
    EXPECT_EQ(single_error("[image.base]\nlayers = [\"/l\"]\n[service.web]\nimage = \"bse\"\n"
                           "command = [\"/x\"]\n"),
              "fleet.toml:4:9: service.web.image: unknown image \"bse\"; did you mean 'base'?");
    EXPECT_EQ(service_error("image = \"nothing\""),
              "fleet.toml:3:9: service.web.image: unknown image \"nothing\"");
}

TEST(LoadErrors, Images) {
    EXPECT_EQ(single_error("[image.base]\n"),
              "fleet.toml:1:8: image.base.layers: required key is missing: the layer "
              "directories, bottom first (or ref = \"NAME\")");
    EXPECT_EQ(single_error("[image.base]\nlayers = [\"/a\"]\nref = \"x\"\n"),
              "fleet.toml:3:7: image.base.ref: an image has either layers or ref, not both");
    EXPECT_EQ(single_error("[image.base]\nlayers = []\n"),
              "fleet.toml:2:10: image.base.layers: expected at least one layer directory, got []");
    EXPECT_EQ(single_error("[image.base]\nlayers = [\"/a:b\"]\n"),
              "fleet.toml:2:11: image.base.layers[0]: expected a path without ':', ',' or '\\' "
              "(overlayfs option syntax), got \"/a:b\"");
    EXPECT_EQ(single_error("[image.base]\nlayers = [\"l\"]\n"),
              "fleet.toml:2:11: image.base.layers[0]: expected an absolute path, got \"l\": not "
              "absolute (it must start with '/')");
    EXPECT_EQ(single_error("[image.\"a b\"]\nref = \"x\"\n"),
              "fleet.toml:1:8: image.\"a b\": invalid image name: a name may only hold letters, "
              "digits, '_' and '-'");
}

TEST(LoadErrors, UnknownAndDuplicateDependencies) {
    EXPECT_EQ(service_error("after = [\"dbb\"]\n[service.db]\ncommand = [\"/x\"]"),
              "fleet.toml:3:10: service.web.after[0]: unknown service \"dbb\"; did you mean "
              "'db'?");
    EXPECT_EQ(service_error("requires = [\"ghost\"]"),
              "fleet.toml:3:13: service.web.requires[0]: unknown service \"ghost\"");
    EXPECT_EQ(service_error("after = [\"db\", \"db\"]\n[service.db]\ncommand = [\"/x\"]"),
              "fleet.toml:3:16: service.web.after[1]: service \"db\" is listed twice");
}

TEST(LoadErrors, DependencyCyclesArePrinted) {
    EXPECT_EQ(service_error("after = [\"web\"]"),
              "fleet.toml:3:10: service.web.after[0]: dependency cycle: web -> web");
    EXPECT_EQ(single_error(R"([service.a]
command = ["/x"]
after = ["b"]
[service.b]
command = ["/x"]
requires = ["c"]
[service.c]
command = ["/x"]
after = ["a"]
[service.d]
command = ["/x"]
after = ["a"]
)"),
              "fleet.toml:3:10: service.a.after[0]: dependency cycle: a -> b -> c -> a");
    auto two = load_text(R"([service.a]
command = ["/x"]
after = ["b"]
[service.b]
command = ["/x"]
after = ["a"]
[service.x]
command = ["/x"]
requires = ["y"]
[service.y]
command = ["/x"]
requires = ["x"]
)");
    EXPECT_THAT(messages(two),
                ElementsAre("fleet.toml:3:10: service.a.after[0]: dependency cycle: a -> b -> a",
                            "fleet.toml:9:13: service.x.requires[0]: dependency cycle: x -> y -> "
                            "x"));
}

TEST(LoadErrors, KeysThatDependOnOthers) {
    EXPECT_EQ(service_error("namespaces = [\"mount\"]\nhostname = \"h\""),
              "fleet.toml:4:12: service.web.hostname: hostname needs the \"uts\" namespace "
              "(without it, it would rename the host)");
    EXPECT_EQ(single_error("[image.i]\nref = \"r\"\n[service.web]\ncommand = [\"/x\"]\n"
                           "image = \"i\"\nnamespaces = []\n"),
              "fleet.toml:5:9: service.web.image: an image needs the \"mount\" namespace (add it "
              "to namespaces)");
    EXPECT_EQ(service_error("namespaces = []\nvolumes = [\"/v\"]"),
              "fleet.toml:4:11: service.web.volumes: volumes need the \"mount\" namespace (add "
              "it to namespaces)");
    EXPECT_EQ(service_error("upper = \"disk\""),
              "fleet.toml:3:9: service.web.upper: upper only applies to a service with an image");
    EXPECT_EQ(service_error("root_switch = \"move\""),
              "fleet.toml:3:15: service.web.root_switch: root_switch only applies to a service "
              "with an image");
    EXPECT_EQ(service_error("watchdog_timeout = \"5s\""),
              "fleet.toml:3:20: service.web.watchdog_timeout: watchdog_timeout needs readiness = "
              "\"notify\" (the service sends WATCHDOG=1)");
    EXPECT_EQ(service_error("restart_delay = \"10s\"\nrestart_delay_max = \"5s\""),
              "fleet.toml:4:21: service.web.restart_delay_max: expected at least restart_delay "
              "(10s), got \"5s\"");
}

TEST(LoadErrors, ServiceSettings) {
    EXPECT_EQ(service_error("restart = \"on_failure\""),
              "fleet.toml:3:11: service.web.restart: expected one of \"always\", \"on-failure\" "
              "or \"never\", got \"on_failure\"; did you mean 'on-failure'?");
    EXPECT_EQ(single_error("[image.i]\nlayers = [\"/l\"]\n[service.web]\ncommand = [\"/x\"]\n"
                           "image = \"i\"\nroot_switch = \"chroot\"\n"),
              "fleet.toml:6:15: service.web.root_switch: expected one of \"template\", \"pivot\" "
              "or \"move\", "
              "got \"chroot\"");
    EXPECT_EQ(service_error("namespaces = [\"pid\", \"pid\"]"),
              "fleet.toml:3:22: service.web.namespaces[1]: namespace \"pid\" is listed twice");
    EXPECT_EQ(service_error("namespaces = [\"nett\"]"),
              "fleet.toml:3:15: service.web.namespaces[0]: expected one of \"mount\", \"pid\", "
              "\"uts\", \"ipc\", \"cgroup\" or \"net\", got \"nett\"; did you mean 'net'?");
    EXPECT_EQ(service_error("hostname = \"web-{index}\""),
              "fleet.toml:3:12: service.web.hostname: expected a hostname such as "
              "\"web-{replica}\", got \"web-{index}\": unknown placeholder at offset 4 (the "
              "placeholders are {service} and {replica})");
    EXPECT_EQ(service_error("hostname = \"" + std::string(60, 'h') + "-{replica}\""),
              "fleet.toml:3:12: service.web.hostname: expected a hostname such as "
              "\"web-{replica}\", got \"" +
                  std::string(60, 'h') + "-{re\"...: a hostname must be 1 to 64 bytes long");
    EXPECT_EQ(service_error("env = { BERTH_X = \"1\" }"),
              "fleet.toml:3:19: service.web.env.BERTH_X: names starting with BERTH_ are reserved "
              "(berth sets BERTH_SERVICE and BERTH_REPLICA)");
    EXPECT_EQ(service_error("env = { X = true }"),
              "fleet.toml:3:13: service.web.env.X: expected a string, got a boolean");
    EXPECT_EQ(service_error("user = \"nobody\""),
              "fleet.toml:3:8: service.web.user: expected \"uid\" or \"uid:gid\", got \"nobody\": "
              "user and group names are not supported (they need the image's /etc/passwd, which "
              "berth does not read); give numeric ids, e.g. \"1000:1000\"");
    EXPECT_EQ(service_error("stop_signal = \"SIGFOO\""),
              "fleet.toml:3:15: service.web.stop_signal: expected a signal such as \"SIGTERM\" or "
              "a number 1..64, got \"SIGFOO\": unknown signal (use a name such as \"SIGTERM\" or "
              "\"TERM\", or a number 1..64)");
    EXPECT_EQ(service_error("stop_signal = 65"),
              "fleet.toml:3:15: service.web.stop_signal: expected a signal such as \"SIGTERM\" or "
              "a number 1..64, got 65: signal number out of range (1 to 64)");
    EXPECT_EQ(service_error("working_dir = \"srv\""),
              "fleet.toml:3:15: service.web.working_dir: expected an absolute path, got \"srv\": "
              "not absolute (it must start with '/')");
    EXPECT_EQ(service_error("volumes = [\"/a\", \"x:/a/\"]"),
              "fleet.toml:3:18: service.web.volumes[1]: two volumes mount on \"/a\"");
    EXPECT_EQ(
        service_error("readiness = { interval = \"1s\" }"),
        "fleet.toml:3:13: service.web.readiness.exec: required key is missing: the probe command, "
        "e.g. exec = [\"/bin/check\"]");
    EXPECT_EQ(service_error("readiness = \"exec\""),
              "fleet.toml:3:13: service.web.readiness: expected one of \"none\" or \"notify\", or "
              "an exec probe table such as { exec = [\"/bin/check\"] }, got \"exec\"");
    EXPECT_EQ(service_error("readiness = 1"),
              "fleet.toml:3:13: service.web.readiness: expected one of \"none\" or \"notify\", or "
              "an exec probe table such as { exec = [\"/bin/check\"] }, got an integer");
    EXPECT_EQ(service_error("readiness = { exec = [\"check\"] }"),
              "fleet.toml:3:22: service.web.readiness.exec: expected a probe command whose first "
              "element is an absolute path, such as [\"/bin/check\"]");
}

TEST(LoadErrors, Names) {
    EXPECT_EQ(single_error("[service.\"my.web\"]\ncommand = [\"/x\"]\n"),
              "fleet.toml:1:10: service.\"my.web\": invalid service name: a name may only hold "
              "letters, digits, '_' and '-'");
    EXPECT_EQ(single_error("[service.init]\ncommand = [\"/x\"]\n"),
              "fleet.toml:1:10: service.init: invalid service name: \"init\" is reserved (the "
              "supervisor's own cgroup is <root>/init)");
}

TEST(LoadErrors, SupervisorSettings) {
    EXPECT_EQ(single_error("[supervisor]\nmetrics_listen = \"localhost:9464\"\n"),
              "fleet.toml:2:18: supervisor.metrics_listen: expected \"IP:port\", \"[IPv6]:port\" "
              "or \"none\", got \"localhost:9464\": expected a numeric IPv4 address or [IPv6] (no "
              "name resolution in PID 1)");
    EXPECT_EQ(single_error("[supervisor]\nstart_priority = \"rt\"\n"),
              "fleet.toml:2:18: supervisor.start_priority: expected one of \"normal\" or "
              "\"realtime\", got \"rt\"");
    EXPECT_EQ(single_error("[supervisor]\nlog_level = \"warning\"\n"),
              "fleet.toml:2:13: supervisor.log_level: expected one of \"trace\", \"debug\", "
              "\"info\", \"warn\", \"error\", \"critical\" or \"off\", got \"warning\"; did you "
              "mean 'warn'?");
    EXPECT_EQ(single_error("[supervisor]\nstate_dir = \"/" + std::string(100, 's') + "\"\n"),
              "fleet.toml:1:1: supervisor.state_dir: state_dir is too long for the default "
              "control_socket (<state_dir>/control.sock must fit in 107 bytes); set "
              "control_socket");
    EXPECT_EQ(single_error("[supervisor]\ncontrol_socket = \"/" + std::string(107, 's') + "\"\n"),
              "fleet.toml:2:18: supervisor.control_socket: expected a socket path of at most 107 "
              "bytes (sun_path), got 108 bytes");
}

TEST(LoadErrors, IncludesCanBeDisabled) {
    auto r = load_text("[supervisor]\ninclude = [\"/etc/*\"]\n", load_options{false});
    EXPECT_THAT(messages(r), ElementsAre("fleet.toml:2:11: supervisor.include: includes are "
                                         "disabled for this load"));
}

TEST(LoadErrors, EveryErrorIsReportedInFileOrder) {
    auto r = load_text(R"([service.web]
command = []
replicas = 100001
restart = "sometimes"
[service.web.limits]
memory_max = "64Q"
cpu_weight = 0
[service.db]
command = ["/x"]
after = ["nope"]
stop_timeout = "-1s"
)");
    EXPECT_FALSE(r.fleet);
    EXPECT_THAT(
        messages(r),
        ElementsAre(
            "fleet.toml:2:11: service.web.command: expected a non-empty array such as "
            "[\"/bin/httpd\", \"-f\"], got []",
            "fleet.toml:3:12: service.web.replicas: expected an integer from 0 to 100000, got "
            "100001",
            "fleet.toml:4:11: service.web.restart: expected one of \"always\", \"on-failure\" or "
            "\"never\", got \"sometimes\"",
            "fleet.toml:6:14: service.web.limits.memory_max: expected a size such as \"64M\" or a "
            "number of bytes, got \"64Q\": unknown unit \"Q\" (use K, M, G, T or KiB, MiB, GiB, "
            "TiB, all powers of 1024)",
            "fleet.toml:7:14: service.web.limits.cpu_weight: expected an integer from 1 to 10000, "
            "got 0",
            "fleet.toml:10:10: service.db.after[0]: unknown service \"nope\"",
            "fleet.toml:11:16: service.db.stop_timeout: expected a duration such as \"10s\" "
            "(units ms, s, m, h), got \"-1s\": negative values are not allowed"));
}

TEST(LoadErrors, BrokenServicesStillHaveTheirReferencesChecked) {
    auto r = load_text(R"([service.web]
command = ["/x"]
replicas = 100001
image = "nope"
requires = ["ghost"]
[service.db]
command = ["/x"]
after = [3, "cache", "web", "web"]
)");
    EXPECT_FALSE(r.fleet);
    EXPECT_THAT(
        messages(r),
        ElementsAre("fleet.toml:3:12: service.web.replicas: expected an integer from 0 to 100000, "
                    "got 100001",
                    "fleet.toml:4:9: service.web.image: unknown image \"nope\"",
                    "fleet.toml:5:13: service.web.requires[0]: unknown service \"ghost\"",
                    "fleet.toml:8:10: service.db.after[0]: expected a string, got an integer",
                    "fleet.toml:8:13: service.db.after[1]: unknown service \"cache\"",
                    "fleet.toml:8:29: service.db.after[3]: service \"web\" is listed twice"));
}

TEST(LoadErrors, CyclesThroughBrokenServicesArePrinted) {
    auto r = load_text(R"([service.a]
command = ["/x"]
after = ["b"]
replicas = -1
[service.b]
command = ["/x"]
requires = ["c"]
stop_timeout = 5
[service.c]
command = []
after = ["a"]
)");
    EXPECT_FALSE(r.fleet);
    EXPECT_THAT(
        messages(r),
        ElementsAre("fleet.toml:3:10: service.a.after[0]: dependency cycle: a -> b -> c -> a",
                    "fleet.toml:4:12: service.a.replicas: expected an integer from 0 to 100000, "
                    "got -1",
                    "fleet.toml:8:16: service.b.stop_timeout: expected a duration such as \"10s\" "
                    "(units ms, s, m, h), got an integer (a bare number has no unit)",
                    "fleet.toml:10:11: service.c.command: expected a non-empty array such as "
                    "[\"/bin/httpd\", \"-f\"], got []"));
}

TEST(LoadErrors, ReferencesToBrokenEntriesAreNotUnknown) {
    auto r = load_text(R"([service.web]
command = ["/x"]
requires = ["db"]
image = "base"
[service.db]
command = "not an array"
[image.base]
layers = "not an array"
)");
    EXPECT_THAT(messages(r),
                ElementsAre("fleet.toml:6:11: service.db.command: expected an array of strings, "
                            "got a string",
                            "fleet.toml:8:10: image.base.layers: expected an array of layer "
                            "directories, got a string"));
}

TEST(LoadErrors, UnreadableFile) {
    auto r = load_fleet("/nonexistent/berth/fleet.toml");
    EXPECT_THAT(messages(r), ElementsAre("/nonexistent/berth/fleet.toml: read: No such file or "
                                         "directory"));
    EXPECT_TRUE(r.files.empty());
}

TEST(Diagnostic, ToStringLeavesOutEmptyParts) {
    EXPECT_EQ((diagnostic{"f.toml", 3, 7, "service.web", "bad"}).to_string(),
              "f.toml:3:7: service.web: bad");
    EXPECT_EQ((diagnostic{"f.toml", 3, 7, "", "bad"}).to_string(), "f.toml:3:7: bad");
    EXPECT_EQ((diagnostic{"f.toml", 0, 0, "", "bad"}).to_string(), "f.toml: bad");
    EXPECT_EQ((diagnostic{"", 0, 0, "", "bad"}).to_string(), "bad");
    const std::vector<diagnostic> two{{"a", 1, 2, "k", "m"}, {"b", 0, 0, "", "n"}};
    EXPECT_EQ(format_diagnostics(two), "a:1:2: k: m\nb: n\n");
}

} // namespace
} // namespace berth::config
