// Host tests of volumes end to end (root): volume_store prepares, containers run through
// engine/container and the real berth-shim on a busybox image, and what they write in a named
// volume is there for the next container; read-only binds refuse writes; refused sources.
#include "engine/container.hpp"
#include "engine/shim_spec.hpp"
#include "engine/volume_store.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace berth {
namespace {

namespace fs = std::filesystem;
using kind = volume_request::kind;

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class volume_host : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root (namespaces, mounts)";
        }
        if (!fs::exists(BERTH_SHIM_PATH) || !fs::exists("/bin/busybox")) {
            GTEST_SKIP() << "needs the built shim and /bin/busybox";
        }
        auto sp = spawner::create();
        ASSERT_TRUE(sp) << sp.error().message();
        spawner_.emplace(std::move(*sp));
        reaper_.emplace(io_);
        char tmpl[] = "/tmp/berth-volume-host-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        std::string make =
            "bash " BERTH_SOURCE_DIR "/scripts/make-busybox-layer.sh " + (dir_ / "image").string();
        ASSERT_EQ(std::system(make.c_str()), 0);
        fs::create_directories(dir_ / "scratch");
        fs::create_directories(dir_ / "state");
        settings_.root = (dir_ / "lib/volumes").string();
        settings_.anonymous_root = (dir_ / "state/volumes").string();
        settings_.protected_paths = {(dir_ / "lib").string(), (dir_ / "state").string()};
    }

    void TearDown() override {
        if (!dir_.empty()) {
            fs::remove_all(dir_);
        }
    }

    // Runs script as uid:gid in a container of replica "db/0" with the volumes; returns its
    // exit and leaves its output in out_.
    container_exit run(const std::vector<volume_bind>& volumes, const std::string& script,
                       uid_t uid = 0, gid_t gid = 0) {
        shim_spec spec;
        spec.name = "db/0";
        spec.namespaces = {"mount", "uts", "ipc"};
        spec.lower = (dir_ / "image").string();
        spec.scratch = (dir_ / "scratch").string();
        spec.volumes = volumes;
        if (uid != 0 || gid != 0) {
            spec.uid = uid;
            spec.gid = gid;
        }
        spec.command = {"/bin/sh", "-c", script};
        container_launch l;
        l.name = spec.name;
        l.shim_path = BERTH_SHIM_PATH;
        l.argv = shim_argv(spec);
        l.env = {"PATH=/bin"};
        l.log_path = dir_ / "out.log";
        fs::remove(l.log_path);

        container c(io_, *spawner_, *reaper_);
        std::optional<container_exit> result;
        container::callbacks cbs;
        cbs.on_exit = [&](const container_exit& e) { result = e; };
        auto st = c.start(l, std::move(cbs));
        EXPECT_TRUE(st) << st.error().message();
        boost::asio::steady_timer guard(io_, std::chrono::seconds(20));
        guard.async_wait([&](auto ec) {
            if (!ec) {
                ADD_FAILURE() << "container did not exit within 20 s";
                io_.stop();
            }
        });
        while (st && !result && !io_.stopped()) {
            io_.run_one();
        }
        guard.cancel();
        io_.restart();
        out_ = slurp(l.log_path);
        return result.value_or(container_exit{});
    }

    boost::asio::io_context io_;
    std::optional<spawner> spawner_;
    std::optional<reaper> reaper_;
    fs::path dir_;
    volume_store::settings settings_;
    std::string out_;
};

TEST_F(volume_host, a_named_volume_keeps_its_data_across_containers) {
    volume_store store(settings_);
    std::vector<volume_request> wanted{{kind::named, "db-0", "/var/lib/db", false}};
    {
        auto first = store.prepare("db/0", wanted, 1000, 1000);
        ASSERT_TRUE(first) << first.error().message();
        auto exit = run(first->binds, "id -u > /var/lib/db/writer && echo hello > /var/lib/db/x",
                        1000, 1000);
        EXPECT_EQ(exit.describe(), "exited 0") << out_;
    }
    struct stat st {};
    ASSERT_EQ(::stat((settings_.root + "/db-0").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u) << "a new volume belongs to the workload's user";
    EXPECT_FALSE(fs::exists(dir_ / "image/var/lib/db")) << "the target went to the upper layer";

    auto second = store.prepare("db/0", wanted, 1000, 1000);
    ASSERT_TRUE(second) << second.error().message();
    auto exit = run(second->binds, "cat /var/lib/db/writer /var/lib/db/x", 1000, 1000);
    EXPECT_EQ(exit.describe(), "exited 0");
    EXPECT_EQ(out_, "1000\nhello\n");
    auto busy = store.remove("db-0");
    EXPECT_FALSE(busy) << "leased while a container could run";
}

TEST_F(volume_host, anonymous_volumes_are_private_to_their_replica) {
    volume_store store(settings_);
    std::vector<volume_request> wanted{{kind::anonymous, "", "/cache", false}};
    auto zero = store.prepare("db/0", wanted, 0, 0);
    auto one = store.prepare("db/1", wanted, 0, 0);
    ASSERT_TRUE(zero && one);
    EXPECT_EQ(run(zero->binds, "echo zero > /cache/who").describe(), "exited 0");
    EXPECT_EQ(run(one->binds, "cat /cache/who 2>/dev/null || echo empty").describe(), "exited 0");
    EXPECT_EQ(out_, "empty\n");
    EXPECT_EQ(run(zero->binds, "cat /cache/who").describe(), "exited 0");
    EXPECT_EQ(out_, "zero\n");
    ASSERT_TRUE(store.remove_anonymous("db/0"));
    ASSERT_TRUE(store.remove_anonymous("db/1"));
    EXPECT_TRUE(fs::is_empty(settings_.anonymous_root));
}

TEST_F(volume_host, a_read_only_bind_refuses_writes) {
    fs::create_directories(dir_ / "www");
    std::ofstream(dir_ / "www/index.html") << "page\n";
    volume_store store(settings_);
    auto prepared =
        store.prepare("db/0", {{kind::bind, (dir_ / "www").string(), "/www", true}}, 0, 0);
    ASSERT_TRUE(prepared) << prepared.error().message();
    auto exit = run(prepared->binds, "cat /www/index.html; echo x > /www/new");
    EXPECT_NE(exit.describe(), "exited 0");
    EXPECT_NE(out_.find("page\n"), std::string::npos);
    EXPECT_NE(out_.find("Read-only file system"), std::string::npos) << out_;
    EXPECT_FALSE(fs::exists(dir_ / "www/new"));
}

TEST_F(volume_host, refused_and_vanished_sources_give_their_errors) {
    volume_store store(settings_);
    fs::create_directories(dir_ / "lib/volumes/other");
    auto inside = store.prepare(
        "db/0", {{kind::bind, (dir_ / "lib/volumes/other").string(), "/x", false}}, 0, 0);
    ASSERT_FALSE(inside);
    EXPECT_NE(
        inside.error().message().find("is inside berth's own '" + (dir_ / "lib").string() + "'"),
        std::string::npos)
        << inside.error().message();

    // Checked, then gone before the container starts: the shim names the step.
    fs::create_directories(dir_ / "brief");
    auto prepared =
        store.prepare("db/0", {{kind::bind, (dir_ / "brief").string(), "/brief", false}}, 0, 0);
    ASSERT_TRUE(prepared);
    fs::remove(dir_ / "brief");
    auto exit = run(prepared->binds, "true");
    ASSERT_TRUE(exit.setup_failure);
    EXPECT_EQ(exit.describe(),
              "shim: open volume " + (dir_ / "brief").string() + ": No such file or directory");
}

} // namespace
} // namespace berth
