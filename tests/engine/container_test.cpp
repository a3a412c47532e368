// container + reaper + spawner on one io_uring loop, with the real berth-shim.
#include "engine/container.hpp"
#include "engine/shim_spec.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// What /proc/self/fd says about the loop's kernel objects.
struct fd_kinds {
    int io_uring = 0;
    int epoll = 0;
};

fd_kinds scan_fds() {
    fd_kinds k;
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        auto target = fs::read_symlink(e.path(), ec).string();
        k.io_uring += target == "anon_inode:[io_uring]";
        k.epoll += target == "anon_inode:[eventpoll]";
    }
    return k;
}

class container_test : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root (namespaces)";
        }
        if (!fs::exists(BERTH_SHIM_PATH)) {
            GTEST_SKIP() << "needs the built shim at " << BERTH_SHIM_PATH;
        }
        auto sp = berth::spawner::create();
        ASSERT_TRUE(sp) << sp.error().message();
        spawner_.emplace(std::move(*sp));
        reaper_.emplace(io_);
        dir_ = fs::temp_directory_path() / ("berth-container-test-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override {
        if (!dir_.empty()) {
            fs::remove_all(dir_);
        }
    }

    berth::container_launch launch(std::vector<std::string> command, berth::shim_spec spec = {}) {
        spec.name = "test/0";
        spec.command = std::move(command);
        berth::container_launch l;
        l.name = "test/0";
        l.shim_path = BERTH_SHIM_PATH;
        l.argv = berth::shim_argv(spec);
        l.env = {"PATH=/bin:/usr/bin"};
        l.log_path = dir_ / "test.log";
        return l;
    }

    // Runs one container to its end on the loop.
    berth::container_exit run_to_exit(const berth::container_launch& l, bool* ran = nullptr) {
        berth::container c(io_, *spawner_, *reaper_);
        std::optional<berth::container_exit> result;
        berth::container::callbacks cbs;
        cbs.on_running = [&] {
            if (ran != nullptr) {
                *ran = true;
            }
        };
        cbs.on_exit = [&](const berth::container_exit& e) { result = e; };
        auto st = c.start(l, std::move(cbs));
        EXPECT_TRUE(st) << st.error().message();
        boost::asio::steady_timer guard(io_, std::chrono::seconds(20));
        guard.async_wait([&](auto ec) {
            if (!ec) {
                ADD_FAILURE() << "container did not exit within 20 s";
                io_.stop();
            }
        });
        while (!result && !io_.stopped()) {
            io_.run_one();
        }
        guard.cancel();
        io_.restart();
        return result.value_or(berth::container_exit{});
    }

    boost::asio::io_context io_;
    std::optional<berth::spawner> spawner_;
    std::optional<berth::reaper> reaper_;
    fs::path dir_;
};

TEST_F(container_test, output_reaches_the_log_and_the_exit_code_comes_back) {
    bool ran = false;
    auto exit =
        run_to_exit(launch({"/bin/busybox", "sh", "-c", "echo out; echo err >&2; exit 3"}), &ran);
    EXPECT_TRUE(ran);
    EXPECT_FALSE(exit.setup_failure);
    EXPECT_FALSE(exit.process.signaled);
    EXPECT_EQ(exit.process.code, 3);
    EXPECT_EQ(exit.describe(), "exited 3");
    EXPECT_EQ(slurp(dir_ / "test.log"), "out\nerr\n");
}

TEST_F(container_test, a_signal_death_is_described_as_such) {
    // Not PID 1 of a pid namespace, which would be immune to its own signal.
    auto l = launch({"/bin/busybox", "sh", "-c", "kill -SEGV $$"});
    l.new_pid_namespace = false;
    auto exit = run_to_exit(l);
    EXPECT_TRUE(exit.process.signaled);
    EXPECT_EQ(exit.process.code, SIGSEGV);
    EXPECT_EQ(exit.describe().rfind("killed by SIGSEGV", 0), 0u) << exit.describe();
}

TEST_F(container_test, a_failing_shim_step_becomes_the_exit_description) {
    berth::shim_spec spec;
    spec.cwd = "/nonexistent-dir";
    bool ran = false;
    auto exit = run_to_exit(launch({"/bin/busybox", "true"}, spec), &ran);
    EXPECT_FALSE(ran);
    ASSERT_TRUE(exit.setup_failure);
    EXPECT_EQ(exit.describe(), "shim: chdir /nonexistent-dir: No such file or directory");
}

TEST_F(container_test, a_missing_binary_is_reported_by_the_shim) {
    auto exit = run_to_exit(launch({"/nonexistent/program"}));
    ASSERT_TRUE(exit.setup_failure);
    EXPECT_EQ(exit.describe(), "shim: execve /nonexistent/program: No such file or directory");
}

TEST_F(container_test, the_loop_runs_on_io_uring_and_creates_no_epoll) {
    berth::container c(io_, *spawner_, *reaper_);
    bool exited = false;
    berth::container::callbacks cbs;
    cbs.on_exit = [&](const berth::container_exit&) { exited = true; };
    ASSERT_TRUE(c.start(launch({"/bin/busybox", "sleep", "0.3"}), std::move(cbs)));
    // Let the loop take the pidfd and pipe waits, then look at the fd table.
    for (int i = 0; i < 3; ++i) {
        io_.poll();
    }
    auto kinds = scan_fds();
    EXPECT_GE(kinds.io_uring, 1);
    EXPECT_EQ(kinds.epoll, 0);
    while (!exited) {
        io_.run_one();
    }
}

TEST_F(container_test, a_flood_of_output_does_not_hold_up_another_container) {
    auto flood_log = dir_ / "flood.log";
    auto flood = launch({"/bin/busybox", "sh", "-c", "yes flood | head -c 50000000"});
    flood.log_path = flood_log;
    flood.log_max_size = 1 << 20;
    flood.log_max_files = 2;
    berth::container a(io_, *spawner_, *reaper_);
    berth::container b(io_, *spawner_, *reaper_);
    bool a_done = false;
    bool b_done = false;
    bool a_done_first = false;
    berth::container::callbacks ca;
    ca.on_exit = [&](const berth::container_exit&) { a_done = true; };
    berth::container::callbacks cb;
    cb.on_exit = [&](const berth::container_exit&) {
        b_done = true;
        a_done_first = a_done;
    };
    ASSERT_TRUE(a.start(flood, std::move(ca)));
    ASSERT_TRUE(b.start(launch({"/bin/busybox", "echo", "quick"}), std::move(cb)));
    while (!(a_done && b_done)) {
        io_.run_one();
    }
    EXPECT_FALSE(a_done_first) << "the quick container waited for the flood to end";
    EXPECT_EQ(slurp(dir_ / "test.log"), "quick\n");
    EXPECT_LE(fs::file_size(flood_log), 1u << 20);
    EXPECT_TRUE(fs::exists(dir_ / "flood.log.1"));
}

TEST_F(container_test, orphans_are_reaped_and_managed_status_is_not_stolen) {
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    // No pid namespace: the background sleep is orphaned to us when its shell exits.
    auto l = launch({"/bin/busybox", "sh", "-c", "(/bin/busybox sleep 0.2 &) ; exit 5"});
    l.new_pid_namespace = false;
    berth::container c(io_, *spawner_, *reaper_);
    std::optional<berth::container_exit> exit;
    berth::container::callbacks cbs;
    cbs.on_exit = [&](const berth::container_exit& e) { exit = e; };
    ASSERT_TRUE(c.start(l, std::move(cbs)));
    // The SIGCHLD path runs before the pidfd wait is served: it must hand the managed
    // child's status to its owner, not swallow it.
    while (!exit) {
        reaper_->reap_children();
        io_.run_one_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(exit->process.code, 5);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (reaper_->orphans_reaped() == 0 && std::chrono::steady_clock::now() < deadline) {
        ::usleep(20'000);
        reaper_->reap_children();
    }
    EXPECT_EQ(reaper_->orphans_reaped(), 1u);
    siginfo_t info{};
    EXPECT_EQ(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG), -1); // ECHILD: no zombie left
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

} // namespace
