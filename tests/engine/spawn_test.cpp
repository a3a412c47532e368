// spawner: clone3 into a cgroup and a pid namespace, a small fd table, exec failures.
#include "engine/cgroup.hpp"
#include "engine/spawn.hpp"
#include "shim/protocol.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

namespace {

struct child_output {
    std::string text;
    siginfo_t info{};
};

std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

class spawn_test : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root (clone3 with CLONE_NEWPID)";
        }
        auto sp = berth::spawner::create();
        ASSERT_TRUE(sp) << sp.error().message();
        spawner_.emplace(std::move(*sp));
    }

    // Runs argv with stdout and fd3 on pipes; returns its output and exit.
    child_output run(berth::spawn_request req, std::string* fd3_data = nullptr) {
        int out[2];
        int status[2];
        EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
        EXPECT_EQ(::pipe2(status, O_CLOEXEC), 0);
        req.stdout_fd = out[1];
        req.fd3 = status[1];
        auto child = spawner_->spawn(req);
        ::close(out[1]);
        ::close(status[1]);
        child_output result;
        if (!child) {
            ADD_FAILURE() << child.error().message();
            ::close(out[0]);
            ::close(status[0]);
            return result;
        }
        result.text = read_all(out[0]);
        std::string st = read_all(status[0]);
        if (fd3_data != nullptr) {
            *fd3_data = st;
        }
        EXPECT_EQ(::waitid(P_PIDFD, static_cast<id_t>(child->pidfd.get()), &result.info, WEXITED),
                  0);
        ::close(out[0]);
        ::close(status[0]);
        return result;
    }

    static berth::spawn_request shell(const std::string& script) {
        berth::spawn_request req;
        req.program = "/bin/busybox";
        req.argv = {"sh", "-c", script};
        req.env = {"PATH=/bin:/usr/bin"};
        return req;
    }

    std::optional<berth::spawner> spawner_;
};

TEST_F(spawn_test, runs_a_program_and_reaps_it_through_the_pidfd) {
    auto r = run(shell("echo hello; exit 7"));
    EXPECT_EQ(r.text, "hello\n");
    EXPECT_EQ(r.info.si_code, CLD_EXITED);
    EXPECT_EQ(r.info.si_status, 7);
}

TEST_F(spawn_test, a_new_pid_namespace_makes_the_child_pid_1) {
    auto req = shell("echo $$");
    req.new_pid_namespace = true;
    EXPECT_EQ(run(req).text, "1\n");
}

TEST_F(spawn_test, the_child_gets_only_its_five_fds_whatever_the_parent_holds) {
    std::vector<int> extra;
    for (int i = 0; i < 300; ++i) {
        extra.push_back(::open("/dev/null", O_RDONLY)); // not close-on-exec on purpose
    }
    berth::spawn_request req;
    req.program = "/bin/busybox";
    req.argv = {"ls", "/proc/self/fd"};
    auto r = run(req);
    for (int fd : extra) {
        ::close(fd);
    }
    std::istringstream words(r.text);
    std::set<std::string> fds;
    for (std::string w; words >> w;) {
        fds.insert(w);
    }
    // 0..4 as given, 5 is ls's own directory handle.
    EXPECT_EQ(fds, (std::set<std::string>{"0", "1", "2", "3", "4", "5"})) << r.text;
}

TEST_F(spawn_test, the_child_leads_its_own_session) {
    // Field 6 of /proc/PID/stat is the session id: a terminal's ^C to berth spares it.
    auto r = run(shell("echo $$ $(cut -d' ' -f6 /proc/$$/stat)"));
    std::istringstream words(r.text);
    std::string pid;
    std::string sid;
    words >> pid >> sid;
    EXPECT_FALSE(pid.empty());
    EXPECT_EQ(pid, sid);
}

TEST_F(spawn_test, fd3_is_handed_to_the_program) {
    std::string status;
    run(shell("echo to-fd3 >&3"), &status);
    EXPECT_EQ(status, "to-fd3\n");
}

// fd 4 (root_switch=template's namespace) arrives as given; without one it is /dev/null.
TEST_F(spawn_test, fd4_is_handed_to_the_program) {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    auto req = shell("echo to-fd4 >&4");
    req.fd4 = p[1];
    run(req);
    ::close(p[1]);
    char buf[64] = {};
    ssize_t n = ::read(p[0], buf, sizeof buf - 1);
    ::close(p[0]);
    EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "to-fd4\n");
    EXPECT_EQ(run(shell("readlink /proc/self/fd/4")).text, "/dev/null\n");
}

TEST_F(spawn_test, a_failed_exec_comes_back_as_a_record_and_exit_127) {
    berth::spawn_request req;
    req.program = "/nonexistent/berth-shim";
    req.argv = {"berth-shim"};
    std::string status;
    auto r = run(req, &status);
    ASSERT_EQ(status.size(), sizeof(berth_shim_failure));
    berth_shim_failure rec{};
    std::memcpy(&rec, status.data(), sizeof rec);
    EXPECT_EQ(rec.error, ENOENT);
    EXPECT_STREQ(rec.step, "execve /nonexistent/berth-shim");
    EXPECT_EQ(r.info.si_status, BERTH_SHIM_EXIT_FAILED);
}

TEST_F(spawn_test, clone_into_cgroup_starts_the_child_in_its_leaf) {
    auto mount = berth::cgroup::mount_point();
    if (!mount) {
        GTEST_SKIP() << "needs a cgroup2 hierarchy: " << mount.error().message();
    }
    std::string leaf = *mount + "/berth-spawn-test-" + std::to_string(::getpid());
    ASSERT_EQ(::mkdir(leaf.c_str(), 0755), 0) << std::strerror(errno);
    auto fd = berth::cgroup::open_dir(leaf);
    ASSERT_TRUE(fd) << fd.error().message();
    auto req = shell("grep ^0:: /proc/self/cgroup");
    req.cgroup_fd = fd->get();
    auto r = run(req);
    EXPECT_EQ(r.text, "0::/" + leaf.substr(mount->size() + 1) + "\n");
    EXPECT_EQ(::rmdir(leaf.c_str()), 0) << std::strerror(errno);
}

TEST_F(spawn_test, the_parent_keeps_no_copy_of_the_childs_pipe_ends) {
    // If the reserved slots kept the write end, this read would never see end of file and
    // the test would hang; run() reads to EOF after the child exits.
    auto r = run(shell("exit 0"));
    EXPECT_EQ(r.info.si_status, 0);
    for (int fd = 3; fd < 12; ++fd) {
        char link[64] = {};
        std::string path = "/proc/self/fd/" + std::to_string(fd);
        if (::readlink(path.c_str(), link, sizeof link - 1) > 0) {
            EXPECT_EQ(std::string(link).find("pipe:"), std::string::npos) << "fd " << fd;
        }
    }
}

// Field 41 of /proc/self/stat is the scheduling policy: 0 SCHED_OTHER, 1 SCHED_FIFO. A
// hand-off spawn raises the spawner to SCHED_FIFO and its child inherits it (berth-shim then
// leaves it with sched=other); any other spawn drops it first, so an exec probe's command
// never runs real-time.
TEST_F(spawn_test, only_hand_off_spawns_inherit_sched_fifo) {
    int drops_arranged = 0;
    if (!spawner_->enable_priority_hand_off([&] { ++drops_arranged; })) {
        GTEST_SKIP() << "SCHED_FIFO is not permitted here";
    }
    const char* policy = "cut -d' ' -f41 /proc/self/stat";
    auto handed = shell(policy);
    handed.hand_off_priority = true;
    EXPECT_EQ(run(handed).text, "1\n");
    EXPECT_TRUE(spawner_->priority_raised());
    EXPECT_EQ(::sched_getscheduler(0), SCHED_FIFO);
    EXPECT_EQ(run(handed).text, "1\n");
    EXPECT_EQ(drops_arranged, 1); // once per switch, not per spawn
    EXPECT_EQ(run(shell(policy)).text, "0\n");
    EXPECT_FALSE(spawner_->priority_raised());
    EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
    EXPECT_EQ(run(handed).text, "1\n");
    EXPECT_EQ(drops_arranged, 2);
    spawner_->drop_priority();
    EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
}

} // namespace
