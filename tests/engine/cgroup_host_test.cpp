// Host tests of cgroup v2 on the real kernel (root, a cgroup2 hierarchy): layout, process
// placement (cgroup.procs and clone3 CLONE_INTO_CGROUP), populated, kill, freeze, removal.
#include "engine/cgroup.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>

namespace berth::cgroup {
namespace {

// clone3's argument block up to the cgroup field (CLONE_ARGS_SIZE_VER2, Linux 5.7).
struct clone_args_v2 {
    std::uint64_t flags;
    std::uint64_t pidfd;
    std::uint64_t child_tid;
    std::uint64_t parent_tid;
    std::uint64_t exit_signal;
    std::uint64_t stack;
    std::uint64_t stack_size;
    std::uint64_t tls;
    std::uint64_t set_tid;
    std::uint64_t set_tid_size;
    std::uint64_t cgroup;
};
constexpr std::uint64_t clone_into_cgroup = 0x200000000ULL;

// An upper bound for waits on the kernel, so a broken kernel fails the test instead of
// hanging it. Not a timing assertion: normal runs take milliseconds.
constexpr int wait_bound_ms = 10000;

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

class cgroup_host : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root";
        }
        auto mount = mount_point();
        if (!mount) {
            GTEST_SKIP() << "needs a cgroup2 hierarchy: " << mount.error().message();
        }
        mount_ = mount.value();
        base_ = mount_ + "/berth-test-" + std::to_string(::getpid());
        auto t = tree::open(base_ + "/berth");
        ASSERT_TRUE(t.has_value()) << t.error().message();
        tree_.emplace(std::move(t.value()));
        if (!exists(base_ + "/cgroup.kill")) {
            GTEST_SKIP() << "needs cgroup.kill (Linux 5.14)";
        }
    }

    void TearDown() override {
        for (pid_t pid : children_) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        if (!base_.empty()) {
            auto s = remove_tree(base_);
            EXPECT_TRUE(s.has_value()) << s.error().message();
            EXPECT_FALSE(exists(base_)) << "the test subtree must be gone";
        }
    }

    // A child that sleeps until killed.
    pid_t spawn_sleeper() {
        pid_t pid = ::fork();
        if (pid == 0) {
            for (;;) {
                ::pause();
            }
        }
        EXPECT_GT(pid, 0);
        children_.insert(pid);
        return pid;
    }

    // A child started by clone3 directly inside the cgroup `fd` refers to.
    pid_t clone_into(int cgroup_fd) {
        clone_args_v2 args{};
        args.flags = clone_into_cgroup;
        args.exit_signal = SIGCHLD;
        args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
        long pid = ::syscall(SYS_clone3, &args, sizeof(args));
        if (pid == 0) {
            for (;;) {
                ::pause();
            }
        }
        EXPECT_GT(pid, 0) << "clone3: " << std::strerror(errno);
        children_.insert(static_cast<pid_t>(pid));
        return static_cast<pid_t>(pid);
    }

    // Reaps a child and says whether SIGKILL ended it.
    bool reaped_by_sigkill(pid_t pid) {
        int status = 0;
        pid_t got = ::waitpid(pid, &status, 0);
        children_.erase(pid);
        return got == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    }

    // Waits on cgroup.events until `want` holds; returns whether it did, and whether a
    // POLLPRI wakeup was seen on the way.
    template <typename Want>
    bool wait_events(const std::string& dir, Want want, bool* saw_pollpri = nullptr) {
        auto fd = open_events(dir);
        EXPECT_TRUE(fd.has_value()) << fd.error().message();
        if (!fd) {
            return false;
        }
        for (int round = 0; round < 100; ++round) {
            auto ev = read_events(fd->get());
            EXPECT_TRUE(ev.has_value());
            if (ev && want(ev.value())) {
                return true;
            }
            pollfd pfd{fd->get(), POLLPRI, 0};
            int n = ::poll(&pfd, 1, wait_bound_ms);
            if (n == 1 && (pfd.revents & POLLPRI) && saw_pollpri != nullptr) {
                *saw_pollpri = true;
            }
            if (n == 0) {
                return false;
            }
        }
        return false;
    }

    std::string mount_;
    std::string base_;
    std::optional<tree> tree_;
    std::set<pid_t> children_;
};

TEST_F(cgroup_host, builds_the_layout_of_init_services_and_replicas) {
    EXPECT_TRUE(exists(base_ + "/berth/cgroup.procs")) << "open() made the root (mkdir -p)";

    auto init = tree_->create_init();
    ASSERT_TRUE(init.has_value()) << init.error().message();
    EXPECT_EQ(init.value(), base_ + "/berth/init");

    auto enabled = tree_->enable_root_controllers();
    ASSERT_TRUE(enabled.has_value()) << enabled.error().message();

    auto web = tree_->create_service("web");
    ASSERT_TRUE(web.has_value()) << web.error().message();
    EXPECT_EQ(web.value(), base_ + "/berth/web");
    auto again = tree_->create_service("web");
    EXPECT_TRUE(again.has_value()) << "an existing service directory is reused";

    auto leaf = tree_->create_replica("web", "0");
    ASSERT_TRUE(leaf.has_value()) << leaf.error().message();
    EXPECT_EQ(leaf.value(), base_ + "/berth/web/0");
    for (const auto& dir : {init.value(), web.value(), leaf.value()}) {
        EXPECT_TRUE(exists(dir + "/cgroup.procs")) << dir << " is a cgroup";
    }
    EXPECT_EQ(tree_->replica_path("web", "0"), leaf.value());
    EXPECT_EQ(tree_->service_path("web"), web.value());
    EXPECT_EQ(tree_->init_path(), init.value());
}

TEST_F(cgroup_host, refuses_reserved_and_invalid_names) {
    auto init = tree_->create_service("init");
    ASSERT_FALSE(init.has_value());
    EXPECT_EQ(init.error().message(), "cgroup '" + base_ +
                                          "/berth': service name 'init' is reserved for the "
                                          "supervisor's own cgroup: Invalid argument");
    for (std::string_view bad : {"", ".", "..", "a/b", "cgroup.procs"}) {
        auto s = tree_->create_service(bad);
        ASSERT_FALSE(s.has_value()) << "'" << bad << "'";
        EXPECT_EQ(s.error().code(), EINVAL);
    }
    auto replica = tree_->create_replica("web", "..");
    ASSERT_FALSE(replica.has_value());
    EXPECT_EQ(replica.error().code(), EINVAL);
}

TEST_F(cgroup_host, moves_a_process_and_clones_another_straight_into_a_leaf) {
    ASSERT_TRUE(tree_->create_service("web").has_value());
    auto first = tree_->create_replica("web", "0");
    auto second = tree_->create_replica("web", "1");
    ASSERT_TRUE(first.has_value() && second.has_value());

    pid_t moved = spawn_sleeper();
    auto s = move_process(first.value(), moved);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    auto moved_path = path_of_process(moved);
    ASSERT_TRUE(moved_path.has_value()) << moved_path.error().message();
    EXPECT_EQ(moved_path.value(), first.value());

    auto fd = open_dir(second.value());
    ASSERT_TRUE(fd.has_value()) << fd.error().message();
    EXPECT_EQ(::fcntl(fd->get(), F_GETFL) & O_PATH, O_PATH);
    pid_t cloned = clone_into(fd->get());
    ASSERT_GT(cloned, 0);
    auto cloned_path = path_of_process(cloned);
    ASSERT_TRUE(cloned_path.has_value()) << cloned_path.error().message();
    EXPECT_EQ(cloned_path.value(), second.value());

    auto web_events = read_events(tree_->service_path("web"));
    ASSERT_TRUE(web_events.has_value());
    EXPECT_TRUE(web_events->populated) << "populated counts the cgroups below";
}

TEST_F(cgroup_host, populated_goes_to_zero_after_kill_with_a_pollpri_wakeup) {
    ASSERT_TRUE(tree_->create_service("web").has_value());
    auto leaf = tree_->create_replica("web", "0");
    ASSERT_TRUE(leaf.has_value());
    auto before = read_events(leaf.value());
    ASSERT_TRUE(before.has_value());
    EXPECT_FALSE(before->populated);

    pid_t pid = spawn_sleeper();
    ASSERT_TRUE(move_process(leaf.value(), pid).has_value());
    auto during = read_events(leaf.value());
    ASSERT_TRUE(during.has_value());
    EXPECT_TRUE(during->populated);

    auto fd = open_events(leaf.value());
    ASSERT_TRUE(fd.has_value());
    ASSERT_TRUE(read_events(fd->get()).has_value()); // consume the current state

    ASSERT_TRUE(kill_all(leaf.value()).has_value());
    pollfd pfd{fd->get(), POLLPRI, 0};
    ASSERT_EQ(::poll(&pfd, 1, wait_bound_ms), 1) << "cgroup.events notifies the change";
    EXPECT_TRUE(pfd.revents & POLLPRI);
    EXPECT_TRUE(pfd.revents & POLLERR) << "kernfs reports changes as POLLERR|POLLPRI";

    bool saw_pollpri = false;
    EXPECT_TRUE(wait_events(
        leaf.value(), [](const events& ev) { return !ev.populated; }, &saw_pollpri));
    EXPECT_TRUE(reaped_by_sigkill(pid));
}

TEST_F(cgroup_host, kill_all_kills_the_whole_subtree) {
    ASSERT_TRUE(tree_->create_service("web").has_value());
    auto first = tree_->create_replica("web", "0");
    auto second = tree_->create_replica("web", "1");
    ASSERT_TRUE(first.has_value() && second.has_value());
    pid_t a = spawn_sleeper();
    pid_t b = spawn_sleeper();
    ASSERT_TRUE(move_process(first.value(), a).has_value());
    ASSERT_TRUE(move_process(second.value(), b).has_value());

    auto s = kill_all(tree_->service_path("web"));
    ASSERT_TRUE(s.has_value()) << s.error().message();
    EXPECT_TRUE(reaped_by_sigkill(a));
    EXPECT_TRUE(reaped_by_sigkill(b));
    EXPECT_TRUE(
        wait_events(tree_->service_path("web"), [](const events& ev) { return !ev.populated; }));
}

TEST_F(cgroup_host, freeze_and_thaw_round_trip) {
    ASSERT_TRUE(tree_->create_service("web").has_value());
    auto leaf = tree_->create_replica("web", "0");
    ASSERT_TRUE(leaf.has_value());
    pid_t pid = spawn_sleeper();
    ASSERT_TRUE(move_process(leaf.value(), pid).has_value());

    ASSERT_TRUE(freeze(leaf.value()).has_value());
    EXPECT_TRUE(wait_events(leaf.value(), [](const events& ev) { return ev.frozen; }));

    ASSERT_TRUE(thaw(leaf.value()).has_value());
    EXPECT_TRUE(wait_events(leaf.value(), [](const events& ev) { return !ev.frozen; }));
    EXPECT_EQ(::kill(pid, 0), 0) << "the process survived the round trip";

    // A frozen cgroup can still be killed.
    ASSERT_TRUE(freeze(leaf.value()).has_value());
    EXPECT_TRUE(wait_events(leaf.value(), [](const events& ev) { return ev.frozen; }));
    ASSERT_TRUE(kill_all(leaf.value()).has_value());
    EXPECT_TRUE(reaped_by_sigkill(pid));
}

TEST_F(cgroup_host, a_limit_without_its_controller_names_the_controller) {
    auto web = tree_->create_service("web");
    ASSERT_TRUE(web.has_value());
    auto leaf = tree_->create_replica("web", "0");
    ASSERT_TRUE(leaf.has_value());
    auto offered = read_controllers(leaf.value());
    ASSERT_TRUE(offered.has_value());
    auto offers = [&](const std::string& c) {
        return std::find(offered->begin(), offered->end(), c) != offered->end();
    };

    struct probe {
        std::string limit;
        std::string controller;
        limits l;
        std::string file;
        std::string expect_read; // when the controller is there
    };
    std::vector<probe> probes(5);
    probes[0] = {"memory_max", "memory", {}, "memory.max", "67108864\n"};
    probes[0].l.memory_max = 64 << 20;
    probes[1] = {"pids_max", "pids", {}, "pids.max", "64\n"};
    probes[1].l.pids_max = 64;
    probes[2] = {"cpu_weight", "cpu", {}, "cpu.weight", "50\n"};
    probes[2].l.cpu_weight = 50;
    probes[3] = {"io_weight", "io", {}, "", ""};
    probes[3].l.io_weight = 50;
    probes[4] = {"cpuset_cpus", "cpuset", {}, "cpuset.cpus", "0\n"};
    probes[4].l.cpuset_cpus = "0";

    for (const auto& p : probes) {
        auto s = apply_limits(leaf.value(), p.l);
        if (!offers(p.controller)) {
            ASSERT_FALSE(s.has_value()) << p.limit << " must not be a silent no-op";
            EXPECT_EQ(s.error().message(), "cgroup '" + leaf.value() + "': limit " + p.limit +
                                               " needs the " + p.controller +
                                               " controller, which this cgroup2 hierarchy does "
                                               "not offer");
        } else {
            // Another host whose hierarchy has the controller: the write must take effect.
            ASSERT_TRUE(s.has_value()) << s.error().message();
            if (!p.file.empty()) {
                auto text = read_text(leaf.value(), p.file);
                ASSERT_TRUE(text.has_value());
                EXPECT_EQ(text.value(), p.expect_read);
            }
        }
    }

    // The same check at the service level, as the supervisor applies service-wide limits.
    if (!offers("memory")) {
        limits l;
        l.memory_max = 1 << 30;
        auto s = apply_limits(web.value(), l);
        ASSERT_FALSE(s.has_value());
        EXPECT_EQ(s.error().message(),
                  "cgroup '" + web.value() +
                      "': limit memory_max needs the memory controller, which this cgroup2 "
                      "hierarchy does not offer");
    }
}

TEST_F(cgroup_host, statistics_follow_the_enabled_controllers) {
    ASSERT_TRUE(tree_->create_service("web").has_value());
    auto leaf = tree_->create_replica("web", "0");
    ASSERT_TRUE(leaf.has_value());
    auto offered = read_controllers(leaf.value());
    ASSERT_TRUE(offered.has_value());
    auto offers = [&](const std::string& c) {
        return std::find(offered->begin(), offered->end(), c) != offered->end();
    };

    auto cpu = read_cpu_stat(leaf.value());
    ASSERT_TRUE(cpu.has_value()) << cpu.error().message();
    ASSERT_TRUE(cpu->has_value()) << "cpu.stat exists without the cpu controller";
    EXPECT_EQ((*cpu)->nr_periods.has_value(), offers("cpu"));

    auto memory = read_memory_current(leaf.value());
    ASSERT_TRUE(memory.has_value()) << memory.error().message();
    EXPECT_EQ(memory->has_value(), offers("memory"));
    auto memory_events = read_memory_events(leaf.value());
    ASSERT_TRUE(memory_events.has_value());
    EXPECT_EQ(memory_events->has_value(), offers("memory"));

    auto pids = read_pids_current(leaf.value());
    ASSERT_TRUE(pids.has_value());
    EXPECT_EQ(pids->has_value(), offers("pids"));

    auto io = read_io_stat(leaf.value());
    ASSERT_TRUE(io.has_value());
    EXPECT_EQ(io->has_value(), offers("io"));
}

TEST_F(cgroup_host, remove_tree_clears_a_stale_subtree_with_a_process_in_it) {
    std::string stale = base_ + "/stale";
    for (const auto& dir : {stale, stale + "/a", stale + "/a/b", stale + "/c"}) {
        ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
    }
    pid_t pid = spawn_sleeper();
    ASSERT_TRUE(move_process(stale + "/a/b", pid).has_value());

    auto s = remove_tree(stale);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    EXPECT_TRUE(reaped_by_sigkill(pid));
    EXPECT_FALSE(exists(stale));
}

TEST_F(cgroup_host, remove_refuses_a_busy_leaf_and_accepts_a_missing_one) {
    ASSERT_TRUE(tree_->create_service("web").has_value());
    auto leaf = tree_->create_replica("web", "0");
    ASSERT_TRUE(leaf.has_value());
    pid_t pid = spawn_sleeper();
    ASSERT_TRUE(move_process(leaf.value(), pid).has_value());

    auto busy = remove(leaf.value());
    ASSERT_FALSE(busy.has_value());
    EXPECT_EQ(busy.error().message(),
              "cgroup '" + leaf.value() + "': rmdir: Device or resource busy");

    ASSERT_TRUE(kill_all(leaf.value()).has_value());
    EXPECT_TRUE(reaped_by_sigkill(pid));
    EXPECT_TRUE(wait_events(leaf.value(), [](const events& ev) { return !ev.populated; }));

    // The events descriptor of a removed cgroup reports POLLERR|POLLPRI for good.
    auto fd = open_events(leaf.value());
    ASSERT_TRUE(fd.has_value());
    ASSERT_TRUE(read_events(fd->get()).has_value());
    auto removed = remove(leaf.value());
    ASSERT_TRUE(removed.has_value()) << removed.error().message();
    EXPECT_FALSE(exists(leaf.value()));
    pollfd pfd{fd->get(), POLLPRI, 0};
    ASSERT_EQ(::poll(&pfd, 1, 0), 1);
    EXPECT_EQ(pfd.revents & (POLLPRI | POLLERR), POLLPRI | POLLERR);

    EXPECT_TRUE(remove(leaf.value()).has_value()) << "a missing cgroup is already removed";
    EXPECT_TRUE(remove_tree(base_ + "/never-made").has_value());
}

// A stopped replica's leaf with a stray still in it: remove_leaf kills it, waits for
// populated 0 and removes the leaf; an empty or missing leaf is one rmdir.
TEST_F(cgroup_host, remove_leaf_ends_strays_then_removes_the_leaf) {
    ASSERT_TRUE(tree_->create_service("web").has_value());
    auto leaf = tree_->create_replica("web", "0");
    ASSERT_TRUE(leaf.has_value());
    pid_t pid = spawn_sleeper();
    ASSERT_TRUE(move_process(leaf.value(), pid).has_value());

    auto removed = remove_leaf(leaf.value());
    ASSERT_TRUE(removed.has_value()) << removed.error().message();
    EXPECT_FALSE(exists(leaf.value()));
    EXPECT_TRUE(reaped_by_sigkill(pid));

    auto empty = tree_->create_replica("web", "1");
    ASSERT_TRUE(empty.has_value());
    EXPECT_TRUE(remove_leaf(empty.value()).has_value());
    EXPECT_FALSE(exists(empty.value()));
    EXPECT_TRUE(remove_leaf(empty.value()).has_value()) << "a missing leaf is already removed";

    // Not a leaf: a child cgroup is no stray, and it is not killed or removed.
    auto parent = tree_->create_service("db");
    ASSERT_TRUE(parent.has_value());
    ASSERT_TRUE(tree_->create_replica("db", "0").has_value());
    pid_t child = spawn_sleeper();
    ASSERT_TRUE(move_process(parent.value() + "/0", child).has_value());
    auto refused = remove_leaf(parent.value(), std::chrono::milliseconds(200));
    EXPECT_FALSE(refused.has_value());
    EXPECT_TRUE(exists(parent.value() + "/0"));
    EXPECT_EQ(::kill(child, 0), 0);
    ASSERT_TRUE(remove_tree(parent.value()).has_value());
    EXPECT_TRUE(reaped_by_sigkill(child));
}

TEST_F(cgroup_host, remove_tree_refuses_the_subtree_that_holds_the_caller) {
    auto self = path_of_process(0);
    ASSERT_TRUE(self.has_value()) << self.error().message();
    EXPECT_EQ(self.value().substr(0, mount_.size()), mount_);

    auto s = remove_tree(self.value());
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code(), EPERM);
    EXPECT_EQ(::kill(::getpid(), 0), 0);
}

TEST_F(cgroup_host, move_self_into_a_leaf_and_back) {
    auto self = path_of_process(0);
    ASSERT_TRUE(self.has_value());
    auto init = tree_->create_init();
    ASSERT_TRUE(init.has_value());

    ASSERT_TRUE(move_self_into(init.value()).has_value());
    auto inside = path_of_process(0);
    ASSERT_TRUE(move_self_into(self.value()).has_value()) << "back where the test started";
    ASSERT_TRUE(inside.has_value());
    EXPECT_EQ(inside.value(), init.value());
}

} // namespace
} // namespace berth::cgroup
