// Engine at scale on the real kernel: 1,000 busybox containers, each in its own cgroup leaf
// and namespaces over a shared image, then a stop that leaves nothing behind.
#include "engine/cgroup.hpp"
#include "engine/container.hpp"
#include "engine/layer_store.hpp"
#include "engine/mountinfo.hpp"
#include "engine/shim_spec.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

constexpr int replicas = 1000;

std::size_t count_fds() {
    std::size_t n = 0;
    for (auto it = fs::directory_iterator("/proc/self/fd"); it != fs::directory_iterator(); ++it) {
        ++n;
    }
    return n;
}

ino_t ns_inode(const std::string& pid, const std::string& ns) {
    struct stat st {};
    std::string path = "/proc/" + pid + "/ns/" + ns;
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Mount points below dir: other tests running in parallel mount elsewhere on the host, so
// only the test's own directory is compared.
std::vector<std::string> mount_points_under(const fs::path& dir) {
    std::vector<std::string> out;
    if (auto m = berth::read_mountinfo()) {
        for (const auto& e : berth::mounts_under(*m, dir.string())) {
            out.push_back(e.mount_point);
        }
    }
    return out;
}

class fleet_host_test : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root (namespaces, mounts, cgroups)";
        }
        if (!fs::exists(BERTH_SHIM_PATH) || !fs::exists("/bin/busybox")) {
            GTEST_SKIP() << "needs the built shim and /bin/busybox (busybox-static)";
        }
        auto mount = berth::cgroup::mount_point();
        if (!mount) {
            GTEST_SKIP() << "needs a cgroup2 hierarchy: " << mount.error().message();
        }
        rlimit nofile{};
        ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &nofile), 0);
        nofile.rlim_cur = nofile.rlim_max;
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &nofile), 0);
        if (nofile.rlim_cur < 4 * replicas) {
            GTEST_SKIP() << "needs RLIMIT_NOFILE >= " << 4 * replicas;
        }
        base_ = fs::temp_directory_path() / ("berth-fleet-test-" + std::to_string(::getpid()));
        fs::create_directories(base_ / "state" / "scratch");
        std::string layer = (base_ / "layer").string();
        std::string make =
            std::string("bash ") + BERTH_SOURCE_DIR + "/scripts/make-busybox-layer.sh " + layer;
        ASSERT_EQ(std::system(make.c_str()), 0);
        cgroot_ = *mount + "/berth-fleet-test-" + std::to_string(::getpid());
    }

    void TearDown() override {
        if (!cgroot_.empty()) {
            (void)berth::cgroup::remove_tree(cgroot_);
        }
        if (!base_.empty()) {
            fs::remove_all(base_);
        }
    }

    fs::path base_;
    std::string cgroot_;
};

TEST_F(fleet_host_test, a_thousand_isolated_containers_start_and_leave_nothing_behind) {
    const auto fds_before = count_fds();
    EXPECT_TRUE(mount_points_under(base_).empty());

    boost::asio::io_context io;
    auto sp = berth::spawner::create();
    ASSERT_TRUE(sp) << sp.error().message();
    berth::reaper reap(io);
    auto tree = berth::cgroup::tree::open(cgroot_);
    ASSERT_TRUE(tree) << tree.error().message();
    auto service_dir = tree->create_service("sleepy");
    ASSERT_TRUE(service_dir) << service_dir.error().message();

    std::optional<berth::layer_store> store;
    store.emplace((base_ / "state").string());
    // Two layers, so the image really is one shared overlay mount.
    fs::create_directories(base_ / "top" / "etc");
    std::ofstream(base_ / "top" / "etc" / "motd") << "from the top layer\n";
    auto lower = store->mount_image("busy", {(base_ / "layer").string(), (base_ / "top").string()});
    ASSERT_TRUE(lower) << lower.error().message();

    std::vector<std::unique_ptr<berth::container>> fleet;
    std::vector<std::string> leaves;
    int running = 0;
    int exited = 0;
    for (int i = 0; i < replicas; ++i) {
        auto leaf = tree->create_replica("sleepy", std::to_string(i));
        ASSERT_TRUE(leaf) << leaf.error().message();
        leaves.push_back(*leaf);
        auto fd = berth::cgroup::open_dir(*leaf);
        ASSERT_TRUE(fd) << fd.error().message();
        berth::shim_spec spec;
        spec.name = "sleepy/" + std::to_string(i);
        spec.namespaces = {"mount", "uts", "ipc", "cgroup"};
        spec.lower = *lower;
        spec.scratch = (base_ / "state" / "scratch").string();
        spec.hostname = "sleepy-" + std::to_string(i);
        spec.command = {"/bin/sh", "-c", "echo $0 > /mine; exec sleep 1000", std::to_string(i)};
        berth::container_launch l;
        l.name = spec.name;
        l.shim_path = BERTH_SHIM_PATH;
        l.argv = berth::shim_argv(spec);
        l.env = {"PATH=/bin:/usr/bin"};
        l.cgroup_fd = fd->get();
        l.new_pid_namespace = true;
        auto c = std::make_unique<berth::container>(io, *sp, reap);
        berth::container::callbacks cbs;
        cbs.on_running = [&running] { ++running; };
        cbs.on_exit = [&exited, i](const berth::container_exit& e) {
            ++exited;
            EXPECT_TRUE(e.process.signaled) << "replica " << i << ": " << e.describe();
        };
        auto st = c->start(l, std::move(cbs));
        ASSERT_TRUE(st) << "replica " << i << ": " << st.error().message();
        fleet.push_back(std::move(c));
        io.poll();
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (running < replicas && std::chrono::steady_clock::now() < deadline) {
        io.run_one_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(running, replicas);
    ASSERT_EQ(exited, 0);

    // Every container: its own leaf and namespaces, the image as its root, its own file.
    const std::string self = std::to_string(::getpid());
    for (int i = 0; i < replicas; ++i) {
        std::string pid = std::to_string(fleet[i]->pid());
        std::ifstream cg("/proc/" + pid + "/cgroup");
        std::string line;
        while (std::getline(cg, line) && line.rfind("0::", 0) != 0) {
        }
        EXPECT_EQ(line, "0::" + leaves[i].substr(berth::cgroup::mount_point()->size()))
            << "replica " << i;
        for (const char* ns : {"mnt", "pid", "uts", "ipc", "cgroup"}) {
            EXPECT_NE(ns_inode(pid, ns), ns_inode(self, ns)) << "replica " << i << " " << ns;
        }
        fs::path root = "/proc/" + pid + "/root";
        // The file appears once the shell has run; wait for it (bounded).
        for (int tries = 0; tries < 200 && !fs::exists(root / "mine"); ++tries) {
            ::usleep(10'000);
        }
        std::ifstream mine(root / "mine");
        std::string text;
        std::getline(mine, text);
        EXPECT_EQ(text, std::to_string(i)) << "replica " << i;
        EXPECT_TRUE(fs::exists(root / "etc" / "motd")) << "replica " << i;
        EXPECT_TRUE(fs::exists(root / "bin" / "busybox")) << "replica " << i;
        EXPECT_FALSE(fs::exists(root / "tmp" / fs::path(base_).filename())) << "replica " << i;
    }
    // Writes went to each container's private upper only.
    EXPECT_FALSE(fs::exists(base_ / "layer" / "mine"));
    EXPECT_FALSE(fs::exists(base_ / "top" / "mine"));
    EXPECT_FALSE(fs::exists(fs::path(*lower) / "mine"));

    // Stop: cgroup.kill on the service, then wait for every exit on the loop.
    ASSERT_TRUE(berth::cgroup::kill_all(*service_dir));
    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (exited < replicas && std::chrono::steady_clock::now() < deadline) {
        io.run_one_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(exited, replicas);
    for (const auto& leaf : leaves) {
        EXPECT_TRUE(berth::cgroup::remove(leaf));
    }
    EXPECT_TRUE(berth::cgroup::remove(*service_dir));
    EXPECT_TRUE(berth::cgroup::remove(cgroot_));
    EXPECT_TRUE(store->release_image("busy"));
    store.reset();
    fleet.clear();
    sp = berth::error(0, "");

    siginfo_t info{};
    EXPECT_EQ(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG), -1) << "a child is left";
    EXPECT_EQ(mount_points_under(base_), std::vector<std::string>{});
    EXPECT_FALSE(fs::exists(cgroot_));
    // The loop's own ring stays until io is destroyed; everything else is closed.
    EXPECT_EQ(count_fds(), fds_before + 1);
}

} // namespace
