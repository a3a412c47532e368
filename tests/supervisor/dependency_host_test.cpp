// `requires` through a running berth: a dependent stops when its requirement fails and starts
// again once the requirement is back, while a service that only orders itself `after` it
// keeps running.
#include "tests/supervisor/fleet_process.hpp"

namespace {

namespace fs = std::filesystem;
using berth::test::slurp;

class dependency_host_test : public berth::test::fleet_process_test {
protected:
    dependency_host_test() { prefix_ = "deps"; }
};

TEST_F(dependency_host_test, a_failed_requirement_stops_its_dependents_until_it_recovers) {
    auto marker = base_ / "db-must-fail";
    start_berth(write_fleet(R"(
[service.db]
restart = "never"
command = ["/bin/busybox", "sh", "-c", "test -e )" +
                            marker.string() +
                            R"( && exit 1; echo db up; exec /bin/busybox sleep 1000"]

[service.web]
requires = ["db"]
stop_timeout = "500ms"
command = ["/bin/busybox", "sh", "-c", "echo web up; exec /bin/busybox sleep 1000"]

[service.batch]
after = ["db"]
command = ["/bin/busybox", "sh", "-c", "echo batch up; exec /bin/busybox sleep 1000"]
)"));
    auto err = base_ / "berth.err";
    ASSERT_TRUE(wait_for(err, "service web/0: ready")) << slurp(err);
    ASSERT_TRUE(wait_for(err, "service batch/0: ready")) << slurp(err);
    const auto batch_procs = slurp(cgroot_ + "/batch/0/cgroup.procs");
    ASSERT_FALSE(batch_procs.empty());

    // db dies and, with restart = "never", stays failed: web must stop, batch must not.
    berth::test::put(marker, "");
    for (std::istringstream procs(slurp(cgroot_ + "/db/0/cgroup.procs")); procs;) {
        pid_t p = 0;
        if (procs >> p) {
            ::kill(p, SIGKILL);
        }
    }
    ASSERT_TRUE(wait_for(err, "waiting for its dependencies")) << slurp(err);
    EXPECT_TRUE(slurp(cgroot_ + "/web/0/cgroup.procs").empty()) << "web still runs";
    EXPECT_EQ(slurp(cgroot_ + "/batch/0/cgroup.procs"), batch_procs)
        << "an `after` dependent is not stopped";

    // db comes back (berthctl start): web starts again by itself.
    fs::remove(marker);
    std::string ctl = std::string(BERTH_BINARY_DIR) + "/bin/berthctl --socket " +
                      (base_ / "state" / "control.sock").string() + " start db >/dev/null 2>&1";
    ASSERT_EQ(std::system(ctl.c_str()), 0) << slurp(err);
    ASSERT_TRUE(wait_for(err, "service db/0: ready", 2)) << slurp(err);
    ASSERT_TRUE(wait_for(err, "service web/0: ready", 2)) << slurp(err);
    // Ready means exec'd: the loop may read the new run's output a moment later.
    EXPECT_TRUE(wait_for(replica_log("web", 0), "web up", 2)) << slurp(replica_log("web", 0));
    EXPECT_EQ(slurp(replica_log("web", 0)), "web up\nweb up\n");
    EXPECT_EQ(slurp(replica_log("batch", 0)), "batch up\n");
    EXPECT_EQ(stop_berth(), 0) << slurp(err);
}

} // namespace
