// Host tests (root, the real kernel): the collector on real cgroup2 leaves, one of them with a
// process that burned CPU in it. Series exist exactly for the files this hierarchy offers.
#include "engine/cgroup.hpp"
#include "metrics/collector.hpp"
#include "tests/metrics/exposition.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>

namespace berth::metrics {
namespace {

namespace fs = std::filesystem;

// A cgroup2 directory of this test's own, removed (leaves first) at the end.
class cgroup_scratch {
public:
    cgroup_scratch() {
        if (::geteuid() != 0) {
            skip_ = "needs root to create cgroup2 directories";
            return;
        }
        auto mount = cgroup::mount_point();
        if (!mount) {
            skip_ = "needs a cgroup2 hierarchy: " + mount.error().message();
            return;
        }
        root_ = *mount + "/berth-metrics-test-" + std::to_string(::getpid());
        std::error_code ec;
        if (!fs::create_directory(root_, ec)) {
            skip_ = "needs a writable cgroup2 hierarchy: mkdir '" + root_ + "': " + ec.message();
            root_.clear();
        }
    }
    ~cgroup_scratch() {
        for (auto it = leaves_.rbegin(); it != leaves_.rend(); ++it) {
            if (auto st = cgroup::remove(*it); !st) {
                ADD_FAILURE() << st.error().message();
            }
        }
        if (!root_.empty()) {
            if (auto st = cgroup::remove(root_); !st) {
                ADD_FAILURE() << st.error().message();
            }
        }
    }
    const std::string& skip_reason() const { return skip_; }

    std::string leaf(const std::string& name) {
        std::string path = root_ + "/" + name;
        std::error_code ec;
        fs::create_directory(path, ec);
        EXPECT_FALSE(ec) << path << ": " << ec.message();
        leaves_.push_back(path);
        return path;
    }

private:
    std::string skip_;
    std::string root_;
    std::vector<std::string> leaves_;
};

// Forks a child that moves itself into `dir`, spins for ~30 ms of CPU and exits; waits for it.
void burn_cpu_in(const std::string& dir) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (!cgroup::move_self_into(dir)) {
            ::_exit(2);
        }
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
        volatile std::uint64_t spin = 0;
        while (std::chrono::steady_clock::now() < until) {
            spin = spin + 1;
        }
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
}

TEST(metrics_cgroup_host, reads_real_cgroup2_leaves) {
    cgroup_scratch scratch;
    if (!scratch.skip_reason().empty()) {
        GTEST_SKIP() << scratch.skip_reason();
    }
    std::string busy = scratch.leaf("busy");
    std::string idle = scratch.leaf("idle");
    burn_cpu_in(busy);

    registry::options o;
    o.replica_states = {"running"};
    registry reg(o);
    reg.container_added("svc", "busy", busy);
    reg.container_added("svc", "idle", idle);
    boost::asio::io_context io;
    collector coll(io, reg);
    coll.refresh();
    io.run();
    EXPECT_EQ(coll.last_report().errors, 0u);

    auto e = testing::parse(reg.scrape());
    EXPECT_TRUE(e.errors.empty()) << e.errors.front();
    auto usage = e.value("berth_container_cpu_usage_seconds_total", {{"replica", "busy"}});
    ASSERT_TRUE(usage.has_value()) << "cpu.stat exists in every cgroup2 directory";
    EXPECT_GT(*usage, 0.0);
    EXPECT_EQ(e.value("berth_container_cpu_usage_seconds_total", {{"replica", "idle"}}), 0.0);

    // Each controller's series exist exactly when its files do.
    struct probe {
        const char* file;
        const char* family;
    };
    for (const probe& p : {probe{"memory.current", "berth_container_memory_usage_bytes"},
                           probe{"memory.peak", "berth_container_memory_peak_bytes"},
                           probe{"memory.events", "berth_container_memory_events_total"},
                           probe{"pids.current", "berth_container_pids"},
                           probe{"io.stat", "berth_container_io_read_bytes_total"}}) {
        bool present = fs::exists(fs::path(busy) / p.file);
        EXPECT_EQ(e.has_family(p.family), present)
            << p.family << " with " << p.file << (present ? " present" : " absent");
    }
    bool throttling = cgroup::read_text(busy, "cpu.stat")->find("nr_periods") != std::string::npos;
    EXPECT_EQ(e.has_family("berth_container_cpu_throttled_periods_total"), throttling);
}

} // namespace
} // namespace berth::metrics
