// berth as PID 1 of a fresh pid namespace on the host (what `unshare --pid --fork --mount-proc`
// gives, made by the fixture with clone so that berth is the test's own child; every other
// fleet_process suite runs a second time that way too, as "pid1:<test>"): it reaps the orphans
// reparented to it, leaves no zombie, and on SIGTERM stops the fleet, killing a service that
// ignores SIGTERM at its stop_timeout, then "powers off", which in a pid namespace other than
// the machine's is the kernel ending its init as if by SIGINT (reboot(2)).
#include "tests/supervisor/fleet_process.hpp"

#include <cstring>

namespace berth::test {
namespace {

class pid1_host_test : public fleet_process_test {
protected:
    pid1_host_test() {
        prefix_ = "pid1";
        as_pid1_ = true; // whatever the environment says
    }

    // berth's children that are zombies (state Z in /proc/PID/stat): unreaped processes.
    std::vector<pid_t> zombie_children() const {
        std::vector<pid_t> zombies;
        for (const auto& e : fs::directory_iterator("/proc")) {
            std::ifstream in(e.path() / "stat");
            std::string line;
            if (!in || !std::getline(in, line)) {
                continue; // not a process, or gone meanwhile
            }
            auto close = line.rfind(')');
            if (close == std::string::npos) {
                continue;
            }
            std::istringstream rest(line.substr(close + 2));
            char state = 0;
            pid_t ppid = 0;
            rest >> state >> ppid;
            if (ppid == pid_ && state == 'Z') {
                zombies.push_back(std::stoi(e.path().filename().string()));
            }
        }
        return zombies;
    }
};

TEST_F(pid1_host_test, reaps_orphans_and_powers_off_on_sigterm_after_stopping_the_fleet) {
    busybox_layer();
    auto fleet = write_fleet(R"(
# No pid namespace and no image: the double-forked sleeps are reparented to berth, PID 1.
[service.orphans]
command = ["/bin/sh", "-c", "for i in 1 2 3 4 5; do (sleep 0.3 &); done; exit 0"]
namespaces = []
restart = "never"

# Ignores SIGTERM: cgroup.kill ends it at its stop_timeout, within shutdown_timeout.
[service.stubborn]
image = "busybox"
command = ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
stop_timeout = "1s"

[service.idle]
image = "busybox"
command = ["/bin/sleep", "1000"]
init = true
)");
    // Debug level: orphans are logged one by one.
    {
        auto text = slurp(fleet);
        std::ofstream(fleet) << "[supervisor]\nlog_level = \"debug\"\n"
                             << text.substr(std::strlen("[supervisor]\n"));
    }
    start_berth(fleet);
    ASSERT_TRUE(wait_for_log("service orphans/0: exited 0")) << berth_log();
    ASSERT_TRUE(wait_for_log("reaped orphan pid=", 5)) << berth_log();
    ASSERT_TRUE(wait_for_log("service stubborn/0: ready")) << berth_log();
    EXPECT_TRUE(zombie_children().empty());

    auto stopped_at = std::chrono::steady_clock::now();
    EXPECT_EQ(stop_berth(), 0) << berth_log();
    // Powered off from a pid namespace: the kernel ends berth as if by SIGINT.
    EXPECT_EQ(stop_status_, 128 + SIGINT) << berth_log();
    EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, 5s) << "shutdown_timeout is 5s";
    auto log = berth_log();
    EXPECT_NE(log.find("killed by cgroup.kill at stop_timeout 1s"), std::string::npos) << log;
    EXPECT_NE(log.find("service idle/0: exited 143"), std::string::npos) << log;
    EXPECT_LT(log.find("fleet stopped"), log.find("powering off")) << log;
    EXPECT_NE(log.find("powering off"), std::string::npos) << log;
    EXPECT_EQ(log.find("critical"), std::string::npos) << log;
}

} // namespace
} // namespace berth::test
