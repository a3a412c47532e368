// `berth run` as a process on the host: start, restart policies, failing containers, a bad
// fleet file, a SIGTERM that stops everything and leaves nothing behind, and /metrics.
#include "engine/cgroup.hpp"
#include "engine/mountinfo.hpp"
#include "tests/supervisor/fleet_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using berth::test::count_of;
using berth::test::http_get;
using berth::test::sample;
using berth::test::slurp;

// promtool (Debian package prometheus), or "" when it is not installed.
std::string promtool_path() {
    for (const char* p : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
        if (::access(p, X_OK) == 0) {
            return p;
        }
    }
    return {};
}

// What `promtool check metrics` made of an exposition (given through a file in `dir`): its
// exit status (-1 when it did not exit normally) and everything it printed.
struct promtool_verdict {
    int status = -1;
    std::string said;
};

promtool_verdict promtool_check(const std::string& promtool, const std::string& exposition,
                                const fs::path& dir) {
    auto input = dir / "scrape.txt";
    std::ofstream(input) << exposition;
    auto report = dir / "promtool.txt";
    std::string cmd =
        promtool + " check metrics < '" + input.string() + "' > '" + report.string() + "' 2>&1";
    int rc = std::system(cmd.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(report)};
}

// A leaf's first process: its lowest pid. With init = true that is berth-shim (the workload
// it forks comes after it); cgroup.procs does not promise an order.
std::string first_process(const std::string& leaf) {
    std::istringstream pids(slurp(leaf + "/cgroup.procs"));
    pid_t first = 0;
    for (pid_t p = 0; pids >> p;) {
        first = first == 0 ? p : std::min(first, p);
    }
    return first == 0 ? std::string() : std::to_string(first);
}

// /proc/PID/cmdline with its NULs as spaces (and one after the last word).
std::string cmdline_of(const std::string& pid) {
    std::string argv = slurp("/proc/" + pid + "/cmdline");
    std::replace(argv.begin(), argv.end(), '\0', ' ');
    return argv;
}

class run_host_test : public berth::test::fleet_process_test {
protected:
    run_host_test() { prefix_ = "run"; }

    void SetUp() override {
        fleet_process_test::SetUp();
        if (!IsSkipped()) {
            ASSERT_TRUE(fs::exists(busybox_layer()));
        }
    }
};

TEST_F(run_host_test, runs_a_fleet_in_order_and_stops_it_leaving_nothing) {
    start_berth(write_fleet(R"(
[service.db]
image = "busybox"
command = ["/bin/sh", "-c", "echo db up; exec sleep 1000"]
init = true

[service.web]
image = "busybox"
command = ["/bin/sh", "-c", "echo web $BERTH_REPLICA on $(hostname); exec sleep 1000"]
replicas = 3
after = ["db"]
init = true
)"));
    ASSERT_TRUE(wait_for_log("service web/2: ready")) << berth_log();
    auto log = berth_log();
    EXPECT_LT(log.find("service db/0: ready"), log.find("service web/0: ready")) << log;
    for (int i = 0; i < 3; ++i) {
        auto leaf = cgroot_ + "/web/" + std::to_string(i);
        EXPECT_FALSE(slurp(leaf + "/cgroup.procs").empty()) << leaf;
        auto out = base_ / "state" / "logs" / "web" / (std::to_string(i) + ".log");
        for (int tries = 0; tries < 100 && slurp(out).empty(); ++tries) {
            std::this_thread::sleep_for(20ms);
        }
        EXPECT_EQ(slurp(out), "web " + std::to_string(i) + " on web-" + std::to_string(i) + "\n");
    }
    // Every container's /dev is a read-only bind of the one tree berth mounted in its state
    // directory (layer_store::dev_template), not a tmpfs of its own. Read in berth's mount
    // namespace: as PID 1 (the "pid1:" run) it has one of its own.
    auto host_mounts = berth::read_mountinfo("/proc/" + std::to_string(pid_) + "/mountinfo");
    ASSERT_TRUE(host_mounts);
    const berth::mount_entry* tree = nullptr;
    for (const auto& m : *host_mounts) {
        if (m.mount_point == (base_ / "state" / "images" / ".dev").string()) {
            tree = &m;
        }
    }
    ASSERT_NE(tree, nullptr) << "no shared /dev tree under the state directory";
    for (int i = 0; i < 3; ++i) {
        std::string pid = first_process(cgroot_ + "/web/" + std::to_string(i));
        ASSERT_FALSE(pid.empty()) << "web/" << i;
        auto inside = berth::read_mountinfo("/proc/" + pid + "/mountinfo");
        ASSERT_TRUE(inside) << inside.error().message();
        auto dev = std::find_if(inside->begin(), inside->end(), [](const berth::mount_entry& m) {
            return m.mount_point == "/dev";
        });
        ASSERT_NE(dev, inside->end()) << "web/" << i << " has no /dev";
        EXPECT_EQ(std::make_pair(dev->major, dev->minor), std::make_pair(tree->major, tree->minor))
            << "web/" << i;
        EXPECT_EQ(dev->mount_options.rfind("ro,", 0), 0u) << dev->mount_options;
    }

    EXPECT_EQ(stop_berth(), 0) << berth_log();
    log = berth_log();
    auto stop = log.find("TERM: stopping the fleet");
    ASSERT_NE(stop, std::string::npos) << log;
    // Reverse order: every web replica has exited before db is told to stop.
    auto db_exit = log.find("service db/0: exited", stop);
    ASSERT_NE(db_exit, std::string::npos) << log;
    for (int i = 0; i < 3; ++i) {
        EXPECT_LT(log.find("service web/" + std::to_string(i) + ": exited", stop), db_exit) << log;
    }
    EXPECT_FALSE(fs::exists(cgroot_)) << "the cgroup subtree is left";
    // Only mounts below the test's directory: other tests mount elsewhere in parallel.
    auto mounts_after = berth::read_mountinfo();
    ASSERT_TRUE(mounts_after);
    EXPECT_TRUE(berth::mounts_under(*mounts_after, base_.string()).empty());
    EXPECT_FALSE(fs::exists(base_ / "state" / "scratch"));
}

// root_switch reaches the shim: with init = true berth-shim stays the container's first
// process, so its argv shows how it entered the root (what each switch does, and which
// escapes fail in each, is shim_host_test's). Every replica runs on its image's root; by
// default on the image's root template, which berth builds without a warning.
TEST_F(run_host_test, root_switch_reaches_the_shim_template_by_default) {
    start_berth(write_fleet(R"(
[service.templated]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true

[service.pivoted]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true
root_switch = "pivot"

[service.moved]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true
root_switch = "move"
)"));
    const std::map<std::string, std::string> expected{
        {"templated", " root_switch=template "}, {"pivoted", ""}, {"moved", " root_switch=move "}};
    for (const auto& [service, word] : expected) {
        ASSERT_TRUE(wait_for_log("service " + service + "/0: ready")) << berth_log();
        std::string pid = first_process(cgroot_ + "/" + service + "/0");
        ASSERT_FALSE(pid.empty()) << service;
        std::string argv = cmdline_of(pid);
        EXPECT_EQ(argv.rfind("berth-shim ", 0), 0u) << argv;
        EXPECT_NE(argv.find(" lower="), std::string::npos) << argv;
        EXPECT_EQ(argv.find(" root_switch="), word.empty() ? std::string::npos : argv.find(word))
            << service << ": " << argv;
        EXPECT_EQ(argv.find(" sched=other "), std::string::npos) << argv; // start_priority normal
        EXPECT_TRUE(fs::exists("/proc/" + pid + "/root/bin/busybox")) << service;
    }
    EXPECT_EQ(berth_log().find("pivot_root instead"), std::string::npos) << berth_log();
    EXPECT_EQ(stop_berth(), 0) << berth_log();
    EXPECT_FALSE(fs::exists(cgroot_)) << "the cgroup subtree is left";
}

// Field 41 of /proc/PID/stat: the scheduling policy (0 SCHED_OTHER, 1 SCHED_FIFO).
std::string policy_of(const std::string& pid) {
    std::string stat = slurp("/proc/" + pid + "/stat");
    std::istringstream fields(stat.substr(stat.rfind(')') + 2)); // from field 3 on
    std::string field;
    for (int i = 3; i <= 41 && fields >> field; ++i) {
    }
    return field;
}

// start_priority = "realtime": berth spawns at SCHED_FIFO and each shim sets up at it, then
// runs the workload at SCHED_OTHER; berth itself is back at SCHED_OTHER once the burst is
// over. (Skipped where berth may not use SCHED_FIFO: it says so and starts normally.)
TEST_F(run_host_test, start_priority_realtime_leaves_no_real_time_process_behind) {
    auto fleet = write_fleet(R"(
[service.web]
image = "busybox"
command = ["/bin/sleep", "1000"]
replicas = 3
init = true
)");
    std::string text = slurp(fleet);
    text.insert(text.find("[supervisor]\n") + 13, "start_priority = \"realtime\"\n");
    std::ofstream(fleet) << text;
    start_berth(fleet);
    ASSERT_TRUE(wait_for_log("service web/2: ready")) << berth_log();
    if (berth_log().find("SCHED_FIFO is not permitted here") != std::string::npos) {
        EXPECT_EQ(stop_berth(), 0) << berth_log();
        GTEST_SKIP() << "berth may not use SCHED_FIFO here: " << berth_log();
    }
    std::this_thread::sleep_for(500ms); // past the hand-off's linger after the last start
    EXPECT_EQ(policy_of(std::to_string(pid_)), "0") << "berth stayed real-time";
    for (int i = 0; i < 3; ++i) {
        std::istringstream procs(slurp(cgroot_ + "/web/" + std::to_string(i) + "/cgroup.procs"));
        std::string pid;
        int seen = 0;
        while (std::getline(procs, pid)) { // the init shim and sleep
            EXPECT_EQ(policy_of(pid), "0") << "web/" << i << " pid " << pid;
            ++seen;
        }
        EXPECT_EQ(seen, 2) << "web/" << i;
    }
    std::string first = first_process(cgroot_ + "/web/0");
    ASSERT_FALSE(first.empty());
    std::string argv = cmdline_of(first);
    EXPECT_NE(argv.find(" sched=other "), std::string::npos) << argv;
    EXPECT_EQ(stop_berth(), 0) << berth_log();
}

TEST_F(run_host_test, on_failure_restarts_with_backoff_until_the_start_limit) {
    start_berth(write_fleet(R"(
[service.crash]
image = "busybox"
command = ["/bin/sh", "-c", "echo attempt; exit 4"]
restart = "on-failure"
restart_delay = "20ms"
restart_delay_max = "100ms"
start_limit_burst = 4
start_limit_interval = "1m"
)"));
    ASSERT_TRUE(wait_for_log("start limit hit")) << berth_log();
    auto log = berth_log();
    EXPECT_EQ(count_of(log, "service crash/0: exited 4; restarting"), 3u) << log;
    EXPECT_NE(log.find("service crash/0: failed: start limit hit: 4 starts within 60s; "
                       "last: exited 4"),
              std::string::npos)
        << log;
    EXPECT_EQ(count_of(slurp(base_ / "state" / "logs" / "crash" / "0.log"), "attempt"), 4u);
    EXPECT_EQ(stop_berth(), 0) << berth_log();
}

TEST_F(run_host_test, never_and_a_clean_exit_are_not_restarted) {
    start_berth(write_fleet(R"(
[service.once]
image = "busybox"
command = ["/bin/sh", "-c", "exit 0"]
restart = "on-failure"

[service.never]
image = "busybox"
command = ["/bin/sh", "-c", "exit 9"]
restart = "never"
)"));
    ASSERT_TRUE(wait_for_log("service once/0: exited 0")) << berth_log();
    ASSERT_TRUE(wait_for_log("service never/0: failed: exited 9")) << berth_log();
    std::this_thread::sleep_for(300ms);
    auto log = berth_log();
    EXPECT_EQ(log.find("restarting"), std::string::npos) << log;
    EXPECT_EQ(stop_berth(), 0) << berth_log();
}

TEST_F(run_host_test, a_failing_container_leaves_the_others_running) {
    start_berth(write_fleet(R"(
[service.broken]
image = "busybox"
command = ["/nonexistent/program"]
restart = "never"

[service.fine]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true
)"));
    ASSERT_TRUE(wait_for_log("service fine/0: ready")) << berth_log();
    ASSERT_TRUE(wait_for_log("service broken/0: failed: shim: execve /nonexistent/program: "
                             "No such file or directory"))
        << berth_log();
    EXPECT_FALSE(slurp(cgroot_ + "/fine/0/cgroup.procs").empty());
    EXPECT_EQ(stop_berth(), 0) << berth_log();
}

TEST_F(run_host_test, a_bad_fleet_file_starts_nothing_and_says_where) {
    start_berth(write_fleet(R"(
[service.web]
image = "busybox"
command = ["/bin/sleep", "1000"]
replica = 2
)"));
    if (as_pid1_) {
        // PID 1 never exits: it says so and waits for the signal that ends the machine.
        ASSERT_TRUE(wait_for_log("no fleet is running; waiting for SIGTERM")) << berth_log();
        EXPECT_EQ(stop_berth(), 0) << berth_log();
    } else {
        int st = 0;
        ASSERT_EQ(::waitpid(pid_, &st, 0), pid_);
        pid_ = -1;
        ASSERT_TRUE(WIFEXITED(st));
        EXPECT_EQ(WEXITSTATUS(st), 1);
    }
    auto log = berth_log();
    // Line 15: six lines of [supervisor], two of [image.busybox], their blank lines, then this.
    EXPECT_NE(
        log.find("fleet.toml:15:1: service.web.replica: unknown key; did you mean 'replicas'?"),
        std::string::npos)
        << log;
    EXPECT_FALSE(fs::exists(cgroot_));
}

TEST_F(run_host_test, an_ignored_stop_signal_is_ended_by_cgroup_kill_at_stop_timeout) {
    start_berth(write_fleet(R"(
[service.stubborn]
image = "busybox"
command = ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
stop_timeout = "300ms"
init = true
)"));
    ASSERT_TRUE(wait_for_log("service stubborn/0: ready")) << berth_log();
    EXPECT_EQ(stop_berth(), 0) << berth_log();
    EXPECT_NE(berth_log().find("(killed by cgroup.kill at stop_timeout 300ms)"), std::string::npos)
        << berth_log();
}

TEST_F(run_host_test, reload_applies_only_the_plan_and_a_broken_file_changes_nothing) {
    const std::string common = R"(
[service.keep]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true
)";
    start_berth(write_fleet(common + R"(replicas = 2

[service.change]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true

[service.gone]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true
)"));
    ASSERT_TRUE(wait_for_log("service keep/1: ready")) << berth_log();
    ASSERT_TRUE(wait_for_log("service gone/0: ready")) << berth_log();
    ASSERT_TRUE(wait_for_log("service change/0: ready")) << berth_log();
    auto procs = [&](const std::string& replica) {
        return slurp(cgroot_ + "/" + replica + "/cgroup.procs");
    };
    const auto keep0 = procs("keep/0");
    const auto keep1 = procs("keep/1");
    ASSERT_FALSE(keep0.empty());

    write_fleet(common + R"(replicas = 4

[service.change]
image = "busybox"
command = ["/bin/sleep", "2000"]
init = true

[service.new]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true
)");
    ::kill(pid_, SIGHUP);
    ASSERT_TRUE(wait_for_log("service keep/3: ready")) << berth_log();
    ASSERT_TRUE(wait_for_log("service new/0: ready")) << berth_log();
    ASSERT_TRUE(wait_for_log("reload: service gone removed")) << berth_log();
    ASSERT_TRUE(wait_for_log("service change/0: ready", 2)) << berth_log();
    auto log = berth_log();
    EXPECT_NE(log.find("reload: scaled keep: replicas 2 -> 4"), std::string::npos) << log;
    EXPECT_NE(log.find("reload: changed change: command changed"), std::string::npos) << log;
    EXPECT_NE(log.find("reload: added new: 1 replicas"), std::string::npos) << log;
    EXPECT_EQ(procs("keep/0"), keep0) << "a scaled service's old replica was touched";
    EXPECT_EQ(procs("keep/1"), keep1);
    EXPECT_FALSE(fs::exists(cgroot_ + "/gone"));

    write_fleet("[service.broken\n");
    ::kill(pid_, SIGHUP);
    ASSERT_TRUE(wait_for_log("the running fleet is unchanged")) << berth_log();
    EXPECT_EQ(procs("keep/0"), keep0);
    EXPECT_FALSE(procs("new/0").empty());
    EXPECT_EQ(stop_berth(), 0) << berth_log();
    EXPECT_FALSE(fs::exists(cgroot_));
}

// With readiness, `replica` was running before it was ready, and `dependent` (after it) became
// ready only after it.
void expect_ready_in_order(const std::string& log, const std::string& replica,
                           const std::string& dependent) {
    auto running = log.find("service " + replica + ": running");
    auto ready = log.find("service " + replica + ": ready");
    ASSERT_NE(running, std::string::npos) << log;
    ASSERT_NE(ready, std::string::npos) << log;
    EXPECT_LT(running, ready) << log;
    EXPECT_LT(ready, log.find("service " + dependent + ": ready")) << log;
}

TEST_F(run_host_test, notify_readiness_orders_dependents_and_times_out_silent_services) {
    fs::copy_file(BERTH_TEST_SD_NOTIFY, base_ / "layer" / "bin" / "sd_notify");
    start_berth(write_fleet(R"(
[service.slow]
image = "busybox"
command = ["/bin/sh", "-c", "sleep 0.5; sd_notify STATUS=warm READY=1; exec sleep 1000"]
readiness = "notify"
init = true

[service.after_slow]
image = "busybox"
command = ["/bin/sleep", "1000"]
after = ["slow"]
init = true

[service.silent]
image = "busybox"
command = ["/bin/sleep", "1000"]
readiness = "notify"
start_timeout = "400ms"
stop_timeout = "200ms"
restart = "never"
init = true

[service.hung]
image = "busybox"
command = ["/bin/sh", "-c", "sd_notify READY=1 WATCHDOG=1; exec sleep 1000"]
readiness = "notify"
watchdog_timeout = "500ms"
restart = "never"
stop_timeout = "200ms"
init = true
)"));
    ASSERT_TRUE(wait_for_log("service after_slow/0: ready")) << berth_log();
    ASSERT_TRUE(wait_for_log("service silent/0: failed")) << berth_log();
    ASSERT_TRUE(wait_for_log("service hung/0: failed")) << berth_log();
    auto log = berth_log();
    expect_ready_in_order(log, "slow/0", "after_slow/0");
    EXPECT_NE(log.find("service silent/0: failed: not ready within start_timeout 400ms"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("service hung/0: failed: watchdog timeout 500ms"), std::string::npos) << log;
    EXPECT_EQ(stop_berth(), 0) << berth_log();
}

// An unwritable cgroup root (here a read-only bind mount over it, in berth's own mount
// namespace: root ignores file modes) is a clear error naming the path and the reason, and
// berth exits 1 without crashing or leaving anything behind.
TEST_F(run_host_test, an_unwritable_cgroup_root_is_a_clear_error) {
    ASSERT_EQ(::mkdir(cgroot_.c_str(), 0755), 0) << cgroot_;
    auto fleet = write_fleet(R"(
[service.web]
command = ["/bin/sleep", "1000"]
namespaces = []
)");
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int err = ::open((base_ / "berth.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(err, 2);
        if (::unshare(CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount(cgroot_.c_str(), cgroot_.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
            ::mount(nullptr, cgroot_.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) !=
                0) {
            std::perror("read-only cgroup root");
            ::_exit(125);
        }
        std::string berth = std::string(BERTH_BINARY_DIR) + "/bin/berth";
        ::execl(berth.c_str(), "berth", "run", fleet.c_str(), nullptr);
        ::_exit(126);
    }
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st)) << "berth died of signal " << WTERMSIG(st) << "\n" << berth_log();
    EXPECT_EQ(WEXITSTATUS(st), 1) << berth_log();
    auto log = berth_log();
    EXPECT_NE(log.find("cgroup '" + cgroot_ + "/init': mkdir: Read-only file system"),
              std::string::npos)
        << log;
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(cgroot_)) {
        if (e.is_directory()) {
            left.push_back(e.path().string());
        }
    }
    EXPECT_TRUE(left.empty()) << left.front();
}

// A service without a pid namespace whose main process exits leaves a stray in its leaf; at
// shutdown berth kills it (cgroup.kill), waits for populated 0 and removes the leaf, instead
// of failing the rmdir and leaving both behind.
TEST_F(run_host_test, strays_in_a_stopped_leaf_are_killed_before_it_is_removed) {
    start_berth(write_fleet(R"(
[service.stray]
command = ["/bin/sh", "-c", "sleep 1000 & exit 0"]
namespaces = []
restart = "never"
)"));
    ASSERT_TRUE(wait_for_log("service stray/0: exited 0")) << berth_log();
    auto leaf = cgroot_ + "/stray/0";
    pid_t sleeper = 0;
    std::istringstream(slurp(leaf + "/cgroup.procs")) >> sleeper;
    ASSERT_GT(sleeper, 0) << "the stray should still be in the leaf";
    EXPECT_EQ(stop_berth(), 0) << berth_log();
    EXPECT_FALSE(fs::exists(leaf)) << berth_log();
    EXPECT_FALSE(fs::exists(cgroot_)) << berth_log();
    EXPECT_EQ(berth_log().find("rmdir"), std::string::npos) << berth_log();
}

// Exec probes run inside the container: its root (the marker exists only in the container's
// upper layer) and its pid namespace (the probe records the one it saw). A probe that keeps
// failing, one that hangs past its timeout and one whose program is missing each fail the
// start with the last run's outcome, and a killed probe leaves nothing behind.
TEST_F(run_host_test, exec_probes_judge_readiness_inside_the_container) {
    start_berth(write_fleet(R"(
[service.web]
image = "busybox"
command = ["/bin/sh", "-c", "sleep 0.5; echo up > /ready-marker; exec sleep 1000"]
init = true

[service.web.readiness]
exec = ["/bin/sh", "-c", "test -f /ready-marker && readlink /proc/self/ns/pid > /probe-ns"]
interval = "100ms"
retries = 50

[service.after_web]
image = "busybox"
command = ["/bin/sleep", "1000"]
after = ["web"]
init = true

[service.never]
image = "busybox"
command = ["/bin/sleep", "1000"]
readiness = { exec = ["/bin/false"], interval = "100ms", retries = 3 }
restart = "never"
stop_timeout = "200ms"
init = true

[service.hangs]
image = "busybox"
command = ["/bin/sleep", "1000"]
readiness = { exec = ["/bin/sleep", "1000"], interval = "100ms", timeout = "200ms", retries = 2 }
restart = "never"
stop_timeout = "200ms"
init = true

[service.missing]
image = "busybox"
command = ["/bin/sleep", "1000"]
readiness = { exec = ["/bin/no-such-probe"], interval = "100ms", retries = 1 }
restart = "never"
stop_timeout = "200ms"
init = true

# Still probing at shutdown: the run in progress is killed with the replica.
[service.pending]
image = "busybox"
command = ["/bin/sleep", "1000"]
readiness = { exec = ["/bin/sleep", "1000"], interval = "100ms", timeout = "60s" }
stop_timeout = "200ms"
init = true
)"));
    ASSERT_TRUE(wait_for_log("service after_web/0: ready")) << berth_log();
    ASSERT_TRUE(wait_for_log("service never/0: failed")) << berth_log();
    ASSERT_TRUE(wait_for_log("service hangs/0: failed")) << berth_log();
    ASSERT_TRUE(wait_for_log("service missing/0: failed")) << berth_log();
    auto log = berth_log();
    expect_ready_in_order(log, "web/0", "after_web/0");
    EXPECT_FALSE(fs::exists("/ready-marker")) << "the marker must exist only in the container";

    // The first process of web/0 (berth-shim as init) and what the probe saw from inside.
    std::string first = first_process(cgroot_ + "/web/0");
    ASSERT_FALSE(first.empty());
    std::string proc = "/proc/" + first;
    auto container_ns = fs::read_symlink(proc + "/ns/pid").string();
    EXPECT_EQ(slurp(proc + "/root/probe-ns"), container_ns + "\n");
    EXPECT_NE(container_ns, fs::read_symlink("/proc/self/ns/pid").string());

    EXPECT_NE(log.find("service never/0: failed: readiness probe failed 3 times in a row; last: "
                       "exited 1; "),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("service hangs/0: failed: readiness probe failed 2 times in a row; last: "
                       "timed out after 200ms"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("service missing/0: failed: readiness probe failed 1 time; last: shim: "
                       "execve /bin/no-such-probe: No such file or directory"),
              std::string::npos)
        << log;
    // Everything of the failed replicas is gone, the hung probe (sleep 1000) included.
    for (const char* leaf : {"/hangs/0", "/never/0"}) {
        auto procs = cgroot_ + leaf + "/cgroup.procs";
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!slurp(procs).empty() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(20ms);
        }
        EXPECT_EQ(slurp(procs), "") << leaf;
    }
    // pending/0: its shim and sleep 1000 (the workload), and the probe's shim and sleep.
    EXPECT_GE(count_of(slurp(cgroot_ + "/pending/0/cgroup.procs"), "\n"), 4u);
    EXPECT_EQ(stop_berth(), 0) << berth_log();
    EXPECT_FALSE(fs::exists(cgroot_ + "/pending/0")) << berth_log();
}

} // namespace

// The metrics endpoint of a running fleet: the per-container series of every replica with its
// service and replica labels, the per-service figures, and exits counted by reason.
TEST_F(run_host_test, metrics_endpoint_reports_replicas_services_and_exits_by_reason) {
    start_berth(write_fleet(R"(
[service.web]
image = "busybox"
command = ["/bin/sleep", "1000"]
replicas = 2
init = true

[service.crash]
image = "busybox"
command = ["/bin/sh", "-c", "exit 3"]
restart = "never"

# No pid namespace: sh is not a namespace's init, so its own SIGKILL ends it.
[service.killed]
image = "busybox"
command = ["/bin/sh", "-c", "kill -KILL $$"]
restart = "never"
namespaces = ["mount"]
)",
                            "127.0.0.1:0"));
    auto port = metrics_port();
    ASSERT_NE(port, 0) << berth_log();
    ASSERT_TRUE(wait_for_log("service web/1: ready")) << berth_log();
    ASSERT_TRUE(wait_for_log("service killed/0: failed")) << berth_log();

    auto cpu = [](const std::string& service, int replica) {
        return "berth_container_cpu_usage_seconds_total{service=\"" + service + "\",replica=\"" +
               std::to_string(replica) + "\"}";
    };
    auto body = scrape_until(port, [&](const std::string& b) {
        return sample(b, cpu("web", 0)) && sample(b, cpu("web", 1)) && sample(b, cpu("crash", 0));
    });
    // Every replica's leaf is read, the exited ones' too (the leaf stays until it is removed).
    for (int i = 0; i < 2; ++i) {
        EXPECT_TRUE(sample(body, cpu("web", i))) << body;
    }
    EXPECT_TRUE(sample(body, cpu("crash", 0))) << body;
    EXPECT_TRUE(sample(body, cpu("killed", 0))) << body;
    EXPECT_FALSE(sample(body, cpu("web", 2))) << body;

    EXPECT_EQ(sample(body, R"(berth_service_desired_replicas{service="web"})"), 2) << body;
    EXPECT_EQ(sample(body, R"(berth_service_desired_replicas{service="crash"})"), 1) << body;
    EXPECT_EQ(sample(body, R"(berth_service_running_replicas{service="web"})"), 2) << body;
    EXPECT_EQ(sample(body, R"(berth_service_running_replicas{service="crash"})"), 0) << body;
    EXPECT_EQ(sample(body, R"(berth_service_replicas{service="web",state="ready"})"), 2) << body;
    EXPECT_EQ(sample(body, R"(berth_service_replicas{service="web",state="starting"})"), 0) << body;
    EXPECT_EQ(sample(body, R"(berth_service_replicas{service="crash",state="failed"})"), 1) << body;
    EXPECT_EQ(sample(body, R"(berth_service_exits_total{service="crash",reason="code"})"), 1)
        << body;
    EXPECT_EQ(sample(body, R"(berth_service_exits_total{service="crash",reason="signal"})"), 0)
        << body;
    EXPECT_EQ(sample(body, R"(berth_service_exits_total{service="killed",reason="signal"})"), 1)
        << body;
    EXPECT_EQ(sample(body, R"(berth_service_exits_total{service="web",reason="code"})"), 0) << body;
    EXPECT_EQ(sample(body, R"(berth_service_restarts_total{service="crash"})"), 0) << body;
    EXPECT_EQ(sample(body, "berth_containers_started_total"), 4) << body;
    EXPECT_EQ(sample(body, R"(berth_container_start_duration_seconds_count{phase="to_ready"})"), 4)
        << body;
    EXPECT_GT(sample(body, "berth_loop_completions_total").value_or(0), 0) << body;
    EXPECT_EQ(sample(body, "berth_loop_pending_operations"), 2) << body; // web/0 and web/1
    EXPECT_NE(http_get(port, "/healthz").find("\r\n\r\nok\n"), std::string::npos);

    EXPECT_EQ(stop_berth(), 0) << berth_log();
    EXPECT_FALSE(fs::exists(cgroot_)) << "the cgroup subtree is left";

    // The real scrape through Prometheus' own linter (naming, units, types, HELP).
    auto promtool = promtool_path();
    if (promtool.empty()) {
        GTEST_SKIP() << "needs /usr/bin/promtool (Debian package prometheus) for `promtool "
                        "check metrics` on the scrape; everything above was checked";
    }
    auto verdict = promtool_check(promtool, body, base_);
    EXPECT_EQ(verdict.status, 0) << "promtool check metrics:\n" << verdict.said;
    EXPECT_EQ(verdict.said, "") << "promtool reported lint problems";
}

// A metrics address berth cannot listen on is an error in the log, not the end of the fleet.
TEST_F(run_host_test, a_metrics_address_in_use_is_logged_and_the_fleet_runs_without_it) {
    berth::unique_fd taken(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(taken.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(taken.get(), 1), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(taken.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    auto where = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

    start_berth(write_fleet(R"(
[service.web]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true
)",
                            where));
    ASSERT_TRUE(wait_for_log("service web/0: ready")) << berth_log();
    EXPECT_NE(berth_log().find("error supervisor: metrics endpoint: http " + where +
                               ": bind: Address already in use; berth runs the fleet without "
                               "/metrics"),
              std::string::npos)
        << berth_log();
    EXPECT_EQ(stop_berth(), 0) << berth_log();
}
