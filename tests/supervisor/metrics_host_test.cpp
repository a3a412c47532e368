// /metrics of a running berth across reloads: the series of replicas a scale-down drops and of
// a service the fleet file no longer has disappear, and stay gone through later refresh cycles,
// while the series of what remains stay.
#include "engine/unique_fd.hpp"
#include "tests/supervisor/fleet_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using berth::test::count_of;
using berth::test::http_get;
using berth::test::sample;

// The sample lines of `exposition` that contain `text`, one a line (for failure messages and
// counts).
std::string lines_with(const std::string& exposition, const std::string& text) {
    std::istringstream in(exposition);
    std::string out;
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("#") && line.find(text) != std::string::npos) {
            out += line + "\n";
        }
    }
    return out;
}

std::string cpu(const std::string& service, int replica) {
    return "berth_container_cpu_usage_seconds_total{service=\"" + service + "\",replica=\"" +
           std::to_string(replica) + "\"}";
}

// What identifies one container's series: its service and replica labels, as exposed.
std::string container_labels(const std::string& service, int replica) {
    return "service=\"" + service + "\",replica=\"" + std::to_string(replica) + "\"";
}

class metrics_host_test : public berth::test::fleet_process_test {
protected:
    metrics_host_test() { prefix_ = "metrics"; }

    void SetUp() override {
        fleet_process_test::SetUp();
        if (!IsSkipped()) {
            ASSERT_TRUE(fs::exists(busybox_layer()));
        }
    }

    // Scrapes until a refresh cycle has completed after this call, so that every container
    // left has been read again since; returns that scrape.
    std::string scrape_after_a_cycle(std::uint16_t port) {
        auto now = scrape_until(port, [](const std::string&) { return true; });
        auto cycles = sample(now, "berth_metrics_refreshes_total").value_or(0);
        return scrape_until(port, [&](const std::string& b) {
            return sample(b, "berth_metrics_refreshes_total").value_or(0) > cycles;
        });
    }

    // Waits (bounded) until `path` is gone.
    static bool removed(const std::string& path, std::chrono::seconds limit = 30s) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (fs::exists(path)) {
            if (std::chrono::steady_clock::now() >= deadline) {
                return false;
            }
            std::this_thread::sleep_for(50ms);
        }
        return true;
    }
};

const std::string web = R"(
[service.web]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true
stop_timeout = "2s"
)";

const std::string gone = R"(
[service.gone]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true
stop_timeout = "2s"
)";

// replicas = 3, then 1: replicas 1 and 2 stop, their leaves go, and with them every series
// labelled with them, at once and through the next refresh cycle; replica 0's stay, and the
// service's figures say 1.
TEST_F(metrics_host_test, a_scale_down_drops_the_removed_replicas_series) {
    start_berth(write_fleet(web + "replicas = 3\n", "127.0.0.1:0"));
    auto port = metrics_port();
    ASSERT_NE(port, 0) << berth_log();
    ASSERT_TRUE(wait_for_log("service web/2: ready")) << berth_log();
    auto before = scrape_until(port, [](const std::string& b) {
        return sample(b, cpu("web", 0)) && sample(b, cpu("web", 1)) && sample(b, cpu("web", 2));
    });
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(sample(before, cpu("web", i))) << "replica " << i << "\n" << before;
    }
    EXPECT_EQ(sample(before, R"(berth_service_desired_replicas{service="web"})"), 3) << before;
    EXPECT_EQ(sample(before, R"(berth_service_running_replicas{service="web"})"), 3) << before;
    const auto replica0_lines = count_of(lines_with(before, container_labels("web", 0)), "\n");

    write_fleet(web + "replicas = 1\n", "127.0.0.1:0");
    ::kill(pid_, SIGHUP);
    ASSERT_TRUE(wait_for_log("reload: scaled web: replicas 3 -> 1")) << berth_log();
    ASSERT_TRUE(removed(cgroot_ + "/web/1")) << berth_log();
    ASSERT_TRUE(removed(cgroot_ + "/web/2")) << berth_log();

    // berth removes a leaf and its series in the same loop turn: the first scrape after it
    // already has none of them.
    auto check = [&](const std::string& body) {
        EXPECT_EQ(lines_with(body, container_labels("web", 1)), "");
        EXPECT_EQ(lines_with(body, container_labels("web", 2)), "");
        EXPECT_TRUE(sample(body, cpu("web", 0))) << body;
        EXPECT_EQ(count_of(lines_with(body, container_labels("web", 0)), "\n"), replica0_lines)
            << "replica 0 lost series:\n"
            << lines_with(body, container_labels("web", 0));
        EXPECT_EQ(sample(body, R"(berth_service_desired_replicas{service="web"})"), 1) << body;
        EXPECT_EQ(sample(body, R"(berth_service_running_replicas{service="web"})"), 1) << body;
        EXPECT_EQ(sample(body, R"(berth_service_replicas{service="web",state="ready"})"), 1)
            << body;
        double in_any_state = 0;
        for (const char* state : {"waiting", "starting", "running", "ready", "stopping", "backoff",
                                  "exited", "failed"}) {
            in_any_state += sample(body, std::string(R"(berth_service_replicas{service="web",)") +
                                             "state=\"" + state + "\"}")
                                .value_or(-100);
        }
        EXPECT_EQ(in_any_state, 1) << "replicas counted in berth_service_replicas\n"
                                   << lines_with(body, "berth_service_replicas{");
    };
    {
        SCOPED_TRACE("the first scrape after the leaves were removed");
        check(scrape_until(port, [](const std::string&) { return true; }));
    }
    {
        SCOPED_TRACE("a scrape after the next refresh cycle");
        auto later = scrape_after_a_cycle(port);
        ASSERT_TRUE(sample(later, "berth_metrics_refreshes_total")) << later;
        check(later);
    }
    EXPECT_EQ(stop_berth(), 0) << berth_log();
}

// A service deleted from the fleet file: once it has stopped and its cgroup is gone, no series
// carries its name any more (its per-service figures included), then or after the next cycle;
// the other service's series are untouched.
TEST_F(metrics_host_test, a_removed_service_leaves_no_series_of_its_own) {
    start_berth(write_fleet(web + "replicas = 1\n" + gone + "replicas = 2\n", "127.0.0.1:0"));
    auto port = metrics_port();
    ASSERT_NE(port, 0) << berth_log();
    ASSERT_TRUE(wait_for_log("service gone/1: ready")) << berth_log();
    ASSERT_TRUE(wait_for_log("service web/0: ready")) << berth_log();
    auto before = scrape_until(port, [](const std::string& b) {
        return sample(b, cpu("web", 0)) && sample(b, cpu("gone", 0)) && sample(b, cpu("gone", 1));
    });
    ASSERT_TRUE(sample(before, cpu("gone", 0))) << before;
    ASSERT_TRUE(sample(before, cpu("gone", 1))) << before;
    EXPECT_EQ(sample(before, R"(berth_service_desired_replicas{service="gone"})"), 2) << before;
    EXPECT_EQ(sample(before, R"(berth_service_exits_total{service="gone",reason="code"})"), 0)
        << before;
    const auto web_lines = count_of(lines_with(before, "service=\"web\""), "\n");

    write_fleet(web + "replicas = 1\n", "127.0.0.1:0");
    ::kill(pid_, SIGHUP);
    ASSERT_TRUE(wait_for_log("reload: service gone removed")) << berth_log();
    ASSERT_TRUE(removed(cgroot_ + "/gone")) << berth_log();

    auto check = [&](const std::string& body) {
        EXPECT_EQ(lines_with(body, "service=\"gone\""), "") << "series of the removed service";
        EXPECT_EQ(count_of(lines_with(body, "service=\"web\""), "\n"), web_lines)
            << lines_with(body, "service=\"web\"");
        EXPECT_TRUE(sample(body, cpu("web", 0))) << body;
        EXPECT_EQ(sample(body, R"(berth_service_desired_replicas{service="web"})"), 1) << body;
    };
    {
        SCOPED_TRACE("the first scrape after the service's cgroup was removed");
        check(scrape_until(port, [](const std::string&) { return true; }));
    }
    {
        SCOPED_TRACE("a scrape after the next refresh cycle");
        check(scrape_after_a_cycle(port));
    }
    EXPECT_EQ(stop_berth(), 0) << berth_log();
}

} // namespace
