// Loading single fleet files: valid fleets, their defaults, and the dependency start order.
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
using testing::only_service;

constexpr std::string_view issue_example = R"(
[supervisor]
cgroup_root = "/sys/fs/cgroup/berth"
state_dir = "/run/berth"
control_socket = "/run/berth/control.sock"
metrics_listen = "127.0.0.1:9464"
shutdown_timeout = "10s"
log_level = "info"

[image.base]
layers = ["/var/lib/berth/layers/busybox"]

[service.db]
command = ["/bin/db"]

[service.web]
image = "base"
command = ["/bin/httpd", "-f", "-p", "8080"]
replicas = 3
restart = "on-failure"
restart_delay = "100ms"
restart_delay_max = "30s"
start_timeout = "5s"
stop_timeout = "5s"
stop_signal = "SIGTERM"
after = ["db"]
requires = ["db"]
env = { MODE = "prod" }
working_dir = "/"
user = "1000:1000"
hostname = "web-{replica}"
namespaces = ["mount", "pid", "uts", "ipc", "cgroup"]
readiness = "notify"
[service.web.limits]
memory_max = "64M"
memory_high = "48M"
memory_swap_max = "0"
pids_max = 64
cpu_max = "50%"
cpu_weight = 100
io_weight = 100
cpuset_cpus = "0-1"
)";

TEST(LoadValid, EmptyFileIsAnEmptyFleetWithDefaults) {
    auto r = load_text("");
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    EXPECT_EQ(*r.fleet, fleet{});
    EXPECT_EQ(r.fleet->supervisor.state_dir, "/run/berth");
    EXPECT_EQ(r.fleet->supervisor.control_socket, "/run/berth/control.sock");
    EXPECT_EQ(r.fleet->supervisor.storage_dir, "/var/lib/berth");
    EXPECT_FALSE(r.fleet->supervisor.cgroup_root);
    EXPECT_EQ(r.fleet->supervisor.metrics_listen, (listen_address{"127.0.0.1", 9464}));
    EXPECT_EQ(r.fleet->supervisor.shutdown_timeout, 30s);
    EXPECT_EQ(r.fleet->supervisor.log_level, log_level::info);
    EXPECT_EQ(r.fleet->supervisor.start_priority, start_priority::normal);
    EXPECT_THAT(r.files, ElementsAre("fleet.toml"));
}

TEST(LoadValid, MinimalServiceGetsEveryDefault) {
    const service s = only_service("[service.web]\ncommand = [\"/bin/true\"]\n");
    EXPECT_EQ(s.name, "web");
    EXPECT_FALSE(s.image);
    EXPECT_THAT(s.command, ElementsAre("/bin/true"));
    EXPECT_EQ(s.replicas, 1u);
    EXPECT_EQ(s.restart, restart_policy::on_failure);
    EXPECT_EQ(s.restart_delay, 100ms);
    EXPECT_EQ(s.restart_delay_max, 30s);
    EXPECT_EQ(s.start_limit_burst, 5u);
    EXPECT_EQ(s.start_limit_interval, 10s);
    EXPECT_EQ(s.start_timeout, 30s);
    EXPECT_EQ(s.stop_timeout, 10s);
    EXPECT_EQ(s.stop_signal, SIGTERM);
    EXPECT_TRUE(s.after.empty());
    EXPECT_TRUE(s.required.empty());
    EXPECT_TRUE(s.env.empty());
    EXPECT_EQ(s.working_dir, "/");
    EXPECT_EQ(s.user, (credentials{0, 0}));
    EXPECT_EQ(s.hostname, "{service}-{replica}");
    EXPECT_EQ(s.namespaces, (namespace_set{true, true, true, true, true, false}));
    EXPECT_EQ(s.readiness, readiness{});
    EXPECT_EQ(s.readiness.type, readiness::kind::none);
    EXPECT_FALSE(s.watchdog_timeout);
    EXPECT_FALSE(s.init);
    EXPECT_EQ(s.log_max_size, 10u << 20);
    EXPECT_EQ(s.log_max_files, 3u);
    EXPECT_EQ(s.upper, upper_kind::tmpfs);
    EXPECT_EQ(s.root_switch, root_switch::on_template);
    EXPECT_TRUE(s.volumes.empty());
    EXPECT_TRUE(s.limits.empty());
    EXPECT_TRUE(s.service_limits.empty());
}

TEST(LoadValid, IssueExample) {
    auto r = load_text(issue_example);
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    const fleet& f = *r.fleet;
    EXPECT_EQ(f.supervisor.cgroup_root, "/sys/fs/cgroup/berth");
    EXPECT_EQ(f.supervisor.shutdown_timeout, 10s);
    ASSERT_EQ(f.images.size(), 1u);
    EXPECT_EQ(f.images[0].name, "base");
    EXPECT_THAT(f.images[0].layers, ElementsAre("/var/lib/berth/layers/busybox"));
    ASSERT_EQ(f.services.size(), 2u);
    const service& web = *f.find_service("web");
    EXPECT_EQ(web.image, "base");
    EXPECT_THAT(web.command, ElementsAre("/bin/httpd", "-f", "-p", "8080"));
    EXPECT_EQ(web.replicas, 3u);
    EXPECT_EQ(web.start_timeout, 5s);
    EXPECT_THAT(web.after, ElementsAre("db"));
    EXPECT_THAT(web.required, ElementsAre("db"));
    EXPECT_EQ(web.env.at("MODE"), "prod");
    EXPECT_EQ(web.user, (credentials{1000, 1000}));
    EXPECT_EQ(web.hostname, "web-{replica}");
    EXPECT_EQ(web.readiness.type, readiness::kind::notify);
    EXPECT_EQ(web.limits.memory_max, limit_value::of(64u << 20));
    EXPECT_EQ(web.limits.memory_high, limit_value::of(48u << 20));
    EXPECT_EQ(web.limits.memory_swap_max, limit_value::of(0));
    EXPECT_EQ(web.limits.pids_max, limit_value::of(64));
    EXPECT_EQ(web.limits.cpu_max, limit_value::of(50'000));
    EXPECT_EQ(web.limits.cpu_weight, 100u);
    EXPECT_EQ(web.limits.io_weight, 100u);
    EXPECT_EQ(web.limits.cpuset_cpus, "0-1");
    EXPECT_EQ(f.find_service("nope"), nullptr);
    EXPECT_EQ(f.find_image("base"), &f.images[0]);
}

TEST(LoadValid, SupervisorSettings) {
    auto r = load_text(R"(
[supervisor]
state_dir = "/var/run/b/"
metrics_listen = "none"
log_level = "debug"
start_priority = "realtime"
)");
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    EXPECT_EQ(r.fleet->supervisor.state_dir, "/var/run/b");
    EXPECT_EQ(r.fleet->supervisor.control_socket, "/var/run/b/control.sock");
    EXPECT_FALSE(r.fleet->supervisor.metrics_listen);
    EXPECT_EQ(r.fleet->supervisor.log_level, log_level::debug);
    EXPECT_EQ(r.fleet->supervisor.start_priority, start_priority::realtime);
}

TEST(LoadValid, RootSwitchTakesEachOfItsValues) {
    for (auto [text, want] :
         {std::pair{"template", root_switch::on_template}, std::pair{"pivot", root_switch::pivot},
          std::pair{"move", root_switch::move}}) {
        const service s = only_service(std::string(R"(
[image.base]
layers = ["/l"]
[service.web]
image = "base"
command = ["/bin/sh"]
root_switch = ")") + text + "\"\n");
        EXPECT_EQ(s.root_switch, want) << text;
    }
}

TEST(LoadValid, SuggestedAdditions) {
    const service s = only_service(R"(
[image.base]
ref = "docker.io/library/busybox"
[service.web]
image = "base"
command = ["/bin/sh"]
replicas = 0
restart = "always"
restart_delay = "0"
start_limit_burst = 0
start_limit_interval = "1m"
stop_signal = 10
readiness = { exec = ["/bin/check", "--ready"], interval = "500ms", timeout = "2s", retries = 7 }
init = true
log_max_size = 1048576
log_max_files = 1
upper = "disk"
root_switch = "move"
volumes = ["data-{replica}:/var/lib/db", "/srv/www:/www:ro", "/cache"]
namespaces = ["mount", "net"]
)");
    EXPECT_EQ(s.replicas, 0u);
    EXPECT_EQ(s.restart, restart_policy::always);
    EXPECT_EQ(s.restart_delay, 0ms);
    EXPECT_EQ(s.start_limit_burst, 0u);
    EXPECT_EQ(s.start_limit_interval, 1min);
    EXPECT_EQ(s.stop_signal, 10);
    EXPECT_EQ(s.readiness.type, readiness::kind::exec);
    EXPECT_THAT(s.readiness.exec, ElementsAre("/bin/check", "--ready"));
    EXPECT_EQ(s.readiness.interval, 500ms);
    EXPECT_EQ(s.readiness.timeout, 2s);
    EXPECT_EQ(s.readiness.retries, 7u);
    EXPECT_TRUE(s.init);
    EXPECT_EQ(s.log_max_size, 1u << 20);
    EXPECT_EQ(s.log_max_files, 1u);
    EXPECT_EQ(s.upper, upper_kind::disk);
    EXPECT_EQ(s.root_switch, root_switch::move);
    ASSERT_EQ(s.volumes.size(), 3u);
    EXPECT_EQ(s.volumes[0], (volume{volume::kind::named, "data-{replica}", "/var/lib/db", false}));
    EXPECT_EQ(s.volumes[1], (volume{volume::kind::bind, "/srv/www", "/www", true}));
    EXPECT_EQ(s.volumes[2], (volume{volume::kind::anonymous, "", "/cache", false}));
    EXPECT_EQ(s.namespaces, (namespace_set{true, false, false, false, false, true}));
    EXPECT_FALSE(s.hostname) << "no uts namespace: no hostname";
}

TEST(LoadValid, NoNamespacesAndWatchdog) {
    const service s = only_service(R"(
[service.web]
command = ["/bin/sh"]
namespaces = []
readiness = "notify"
watchdog_timeout = "30s"
)");
    EXPECT_EQ(s.namespaces, (namespace_set{false, false, false, false, false, false}));
    EXPECT_EQ(s.watchdog_timeout, 30s);
}

TEST(LoadValid, LimitSpellings) {
    const service s = only_service(R"(
[service.web]
command = ["/bin/sh"]
[service.web.limits]
memory_max = "max"
memory_high = 1073741824
pids_max = "max"
cpu_max = 1.5
[service.web.service_limits]
memory_max = "1.5G"
cpu_max = 2
)");
    EXPECT_EQ(s.limits.memory_max, limit_value::max());
    EXPECT_EQ(s.limits.memory_high, limit_value::of(1u << 30));
    EXPECT_EQ(s.limits.pids_max, limit_value::max());
    EXPECT_EQ(s.limits.cpu_max, limit_value::of(150'000));
    EXPECT_FALSE(s.limits.memory_swap_max);
    EXPECT_EQ(s.service_limits.memory_max, limit_value::of(3ull << 29));
    EXPECT_EQ(s.service_limits.cpu_max, limit_value::of(200'000));
}

TEST(LoadValid, RestartDelayMaxFollowsALargerDelay) {
    const service s = only_service("[service.web]\ncommand = [\"/x\"]\nrestart_delay = \"1m\"\n");
    EXPECT_EQ(s.restart_delay_max, 1min);
}

TEST(LoadValid, EnvAcceptsIntegersAndQuotedNames) {
    const service s =
        only_service("[service.web]\ncommand = [\"/x\"]\nenv = { PORT = 8080, \"a.b\" = \"c\" }\n");
    EXPECT_EQ(s.env.at("PORT"), "8080");
    EXPECT_EQ(s.env.at("a.b"), "c");
}

TEST(LoadValid, StartOrderPutsDependenciesFirst) {
    auto r = load_text(R"(
[service.web]
command = ["/x"]
requires = ["db"]
after = ["cache"]
[service.db]
command = ["/x"]
[service.cache]
command = ["/x"]
after = ["db"]
[service.a]
command = ["/x"]
)");
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    std::vector<std::string> names;
    for (const service* s : start_order(*r.fleet)) {
        names.push_back(s->name);
    }
    EXPECT_THAT(names, ElementsAre("a", "db", "cache", "web"));
}

} // namespace
} // namespace berth::config
