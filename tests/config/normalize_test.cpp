// Rendering: the normalized TOML has every default and loads back to an equal fleet.
#include "config/normalize.hpp"

#include "config/loader.hpp"
#include "helpers.hpp"

#include <gtest/gtest.h>

namespace berth::config {
namespace {

// Loads text, renders it, loads the rendering: both fleets must be equal, and rendering the
// second gives the same text (the normalized form is a fixed point).
void expect_round_trip(std::string_view text) {
    auto first = testing::load_text(text);
    ASSERT_TRUE(first.ok()) << format_diagnostics(first.diagnostics);
    const std::string rendered = render_toml(*first.fleet);
    auto second = load_fleet_from_string(rendered, "rendered.toml");
    ASSERT_TRUE(second.ok()) << format_diagnostics(second.diagnostics) << rendered;
    EXPECT_EQ(*first.fleet, *second.fleet) << rendered;
    EXPECT_EQ(render_toml(*second.fleet), rendered);
}

TEST(Normalize, RendersEveryDefault) {
    auto r = testing::load_text("[service.web]\ncommand = [\"/bin/true\"]\n");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(render_toml(*r.fleet), R"([supervisor]
# cgroup_root unset: the supervisor decides (PID 1: the cgroup2 root; host: <cgroup2 mount>/berth)
state_dir = "/run/berth"
storage_dir = "/var/lib/berth"
control_socket = "/run/berth/control.sock"
metrics_listen = "127.0.0.1:9464"
shutdown_timeout = "30s"
log_level = "info"
start_priority = "normal"

[service.web]
# image is unset: the host's root, no rootfs change
command = ["/bin/true"]
replicas = 1
restart = "on-failure"
restart_delay = "100ms"
restart_delay_max = "30s"
start_limit_burst = 5
start_limit_interval = "10s"
start_timeout = "30s"
stop_timeout = "10s"
stop_signal = "SIGTERM"
after = []
requires = []
working_dir = "/"
user = "0:0"
hostname = "{service}-{replica}"
namespaces = ["mount", "pid", "uts", "ipc", "cgroup"]
init = false
readiness = "none"
log_max_size = "10MiB"
log_max_files = 3
volumes = []
env = {}
)");
}

TEST(Normalize, RendersSetValuesCanonically) {
    auto r = testing::load_text(R"(
[image.base]
layers = ["/l1", "/l2//"]
[service.web]
image = "base"
command = ["/bin/httpd"]
stop_signal = 40
readiness = { exec = ["/bin/check"] }
env = { "a b" = "tab\there \"quoted\"" }
volumes = ["data:/d/:ro"]
[service.web.limits]
memory_max = "1536K"
cpu_max = 1.5
pids_max = "max"
)");
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    const std::string text = render_toml(*r.fleet);
    for (const char* line : {
             "layers = [\"/l1\", \"/l2\"]\n",
             "stop_signal = 40\n",
             "readiness = { exec = [\"/bin/check\"], interval = \"1s\", timeout = \"1s\", "
             "retries = 3 }\n",
             "upper = \"tmpfs\"\n",
             "root_switch = \"template\"\n",
             "volumes = [\"data:/d:ro\"]\n",
             "[service.web.env]\n\"a b\" = \"tab\\there \\\"quoted\\\"\"\n",
             "[service.web.limits]\nmemory_max = \"1536KiB\"\npids_max = \"max\"\ncpu_max = "
             "\"150%\"\n",
         }) {
        EXPECT_NE(text.find(line), std::string::npos) << "missing " << line << " in\n" << text;
    }
}

TEST(Normalize, RoundTripsDefaults) {
    expect_round_trip("");
}

TEST(Normalize, RoundTripsAFullFleet) {
    expect_round_trip(R"(
[supervisor]
cgroup_root = "/sys/fs/cgroup/berth"
state_dir = "/var/lib/berth"
storage_dir = "/data/berth"
control_socket = "/run/b.sock"
metrics_listen = "[::1]:0"
shutdown_timeout = "1m30s"
log_level = "critical"
start_priority = "realtime"
[image.base]
layers = ["/a", "/b"]
[image.imported]
ref = "busybox:latest"
[service.db]
command = ["/bin/db", "--data", "/var/lib/db"]
image = "imported"
readiness = "notify"
watchdog_timeout = "2500ms"
volumes = ["db-{replica}:/var/lib/db", "/etc/db:/etc/db:ro", "/tmp/scratch"]
upper = "disk"
root_switch = "move"
[service.db.limits]
memory_max = "1G"
memory_high = "768M"
memory_swap_max = "0"
pids_max = 1000
cpu_max = "12.5%"
cpu_weight = 1
io_weight = 10000
cpuset_cpus = "0,2-3"
[service.db.service_limits]
memory_max = "max"
cpu_max = "max"
[service.app]
image = "imported"
[service.web]
image = "base"
command = ["/bin/httpd", "-f", "ünïcødé", "tab\t", "\u001b[31m"]
replicas = 100000
restart = "never"
restart_delay = "0"
restart_delay_max = "1h"
start_limit_burst = 100000
start_limit_interval = "2h"
start_timeout = "1ms"
stop_timeout = "2562047h"
stop_signal = "HUP"
after = ["db"]
requires = ["db"]
env = { MODE = "prod", EMPTY = "", PORT = 8080, "dotted.name" = "x" }
working_dir = "/srv"
user = "4294967294"
hostname = "w{replica}.{service}"
namespaces = ["net", "uts", "mount"]
readiness = { exec = ["/bin/check", "-q"], interval = "250ms", timeout = "5s", retries = 1 }
init = true
log_max_size = "1.5K"
log_max_files = 1000
[service.idle]
command = ["/bin/sleep", "infinity"]
replicas = 0
namespaces = []
)");
}

TEST(Normalize, RoundTripsTheExampleFile) {
    const std::string path = std::string(BERTH_SOURCE_DIR) + "/examples/full.toml";
    auto r = load_fleet(path);
    ASSERT_TRUE(r.ok()) << format_diagnostics(r.diagnostics);
    EXPECT_EQ(r.fleet->services.size(), 2u);
    EXPECT_EQ(r.fleet->images.size(), 2u);
    const std::string rendered = render_toml(*r.fleet);
    auto again = load_fleet_from_string(rendered, "rendered.toml");
    ASSERT_TRUE(again.ok()) << format_diagnostics(again.diagnostics);
    EXPECT_EQ(*r.fleet, *again.fleet);
}

} // namespace
} // namespace berth::config
