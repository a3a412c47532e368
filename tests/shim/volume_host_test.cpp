// Host tests of berth-shim's volumes: bind mounts in real containers (clone3, fd 3 = status
// pipe) on a busybox image: read-write and read-only, files, nesting, targets created in the
// upper layer, symlinks in the image that cannot lead a target out, and failures.
#include "engine/root_template.hpp"
#include "tests/shim/shim_runner.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using berth::test::launch;
using berth::test::outcome;

namespace {

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Mount points at or below dir in this process's mount namespace.
std::vector<std::string> mounts_under(const fs::path& dir) {
    std::vector<std::string> found;
    std::istringstream lines(read_file("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string id, parent, devno, root, point;
        fields >> id >> parent >> devno >> root >> point;
        if (point.rfind(dir.string(), 0) == 0) {
            found.push_back(point);
        }
    }
    return found;
}

class shim_volumes : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (::geteuid() != 0) {
            skip_ = "needs root (namespaces, mounts)";
            return;
        }
        if (read_file("/proc/filesystems").find("\toverlay\n") == std::string::npos) {
            skip_ = "needs overlayfs in the kernel";
            return;
        }
        if (!fs::exists("/bin/busybox")) {
            skip_ = "needs /bin/busybox (busybox-static) for the test image";
            return;
        }
        char dir[] = "/tmp/berth-shim-volumes-XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        base_ = dir;
        std::string make =
            "bash " BERTH_SOURCE_DIR "/scripts/make-busybox-layer.sh " + (base_ / "image").string();
        ASSERT_EQ(std::system(make.c_str()), 0);
    }

    static void TearDownTestSuite() {
        if (!base_.empty() && mounts_under(base_).empty()) {
            fs::remove_all(base_);
        }
    }

    void SetUp() override {
        if (!skip_.empty()) {
            GTEST_SKIP() << skip_;
        }
        static int counter = 0;
        dir_ = base_ / ("t" + std::to_string(++counter));
        fs::create_directories(dir_ / "scratch");
        image_before_ = listing(base_ / "image");
    }

    void TearDown() override {
        if (!skip_.empty()) {
            return;
        }
        EXPECT_EQ(mounts_under(base_), std::vector<std::string>{})
            << "every mount lived in the container's namespace";
        EXPECT_EQ(listing(base_ / "image"), image_before_) << "the image never changes";
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    static std::vector<std::string> listing(const fs::path& root) {
        std::vector<std::string> out;
        for (const auto& e : fs::recursive_directory_iterator(root)) {
            out.push_back(e.path().lexically_relative(root).string());
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    // Runs script in a container on the image (plus `upper_layer` stacked on top when set)
    // with the given volume= words.
    outcome run(const std::vector<std::string>& volumes, const std::string& script,
                const fs::path& upper_layer = {}) {
        std::string lower = (base_ / "image").string();
        if (!upper_layer.empty()) {
            lower = upper_layer.string() + ":" + lower;
        }
        std::vector<std::string> spec{"name=test/1", "ns=mount,uts,ipc", "lower=" + lower,
                                      "scratch=" + (dir_ / "scratch").string()};
        for (const auto& v : volumes) {
            spec.push_back("volume=" + v);
        }
        launch what;
        berth::unique_fd root_ns;
        if (on_template_) {
            auto ns = berth::build_root_template({lower, "", (dir_ / "scratch").string()});
            EXPECT_TRUE(ns) << ns.error().message();
            if (ns) {
                root_ns = std::move(*ns);
            }
            spec.push_back("root_switch=template");
            what.root_ns_fd = root_ns.get();
        }
        what.program = BERTH_SHIM_PATH;
        what.argv = berth::test::shim_argv(spec, {"/bin/sh", "-c", script});
        auto result = berth::test::run(what);
        EXPECT_FALSE(result.timed_out);
        return result;
    }

    // The mount options of the mount at `point` inside the container, from its mountinfo.
    static const char* options_script(const char* point) {
        static std::string text;
        text = std::string("awk '$5 == \"") + point + "\" { print $6 }' /proc/self/mountinfo";
        return text.c_str();
    }

    static inline std::string skip_;
    static inline fs::path base_;
    fs::path dir_;
    std::vector<std::string> image_before_;
    bool on_template_ = false; // root_switch=template, a root template per run
};

TEST_F(shim_volumes, a_read_write_volume_is_shared_with_the_host) {
    fs::create_directories(dir_ / "data");
    std::ofstream(dir_ / "data" / "from-host") << "host\n";
    auto r = run({(dir_ / "data").string() + ":/var/lib/db"},
                 "cat /var/lib/db/from-host && echo container > /var/lib/db/from-container && " +
                     std::string(options_script("/var/lib/db")));
    ASSERT_FALSE(r.failure) << r.step() << ": " << std::strerror(r.error());
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out.substr(0, 5), "host\n");
    EXPECT_NE(r.out.find("rw,nosuid,nodev"), std::string::npos) << r.out;
    EXPECT_EQ(read_file(dir_ / "data" / "from-container"), "container\n");
}

TEST_F(shim_volumes, a_read_only_volume_refuses_writes) {
    fs::create_directories(dir_ / "www");
    std::ofstream(dir_ / "www" / "index.html") << "page\n";
    auto r = run({(dir_ / "www").string() + ":/www:ro"},
                 "cat /www/index.html; if echo x > /www/new 2>/dev/null; then echo WROTE; fi; " +
                     std::string(options_script("/www")));
    ASSERT_FALSE(r.failure) << r.step() << ": " << std::strerror(r.error());
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out.find("WROTE"), std::string::npos);
    EXPECT_NE(r.out.find("page\n"), std::string::npos);
    EXPECT_NE(r.out.find("ro,nosuid,nodev"), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(dir_ / "www" / "new"));
}

TEST_F(shim_volumes, files_and_nested_volumes_mount_in_order) {
    fs::create_directories(dir_ / "outer");
    fs::create_directories(dir_ / "inner");
    std::ofstream(dir_ / "inner" / "i") << "inner\n";
    std::ofstream(dir_ / "conf") << "setting=1\n";
    auto r = run({(dir_ / "outer").string() + ":/srv", (dir_ / "inner").string() + ":/srv/sub",
                  (dir_ / "conf").string() + ":/etc/app/app.conf:ro"},
                 "cat /srv/sub/i /etc/app/app.conf");
    ASSERT_FALSE(r.failure) << r.step() << ": " << std::strerror(r.error());
    EXPECT_EQ(r.out, "inner\nsetting=1\n");
    // The nested target was made inside the outer volume, on the host.
    EXPECT_TRUE(fs::is_directory(dir_ / "outer" / "sub"));
}

TEST_F(shim_volumes, a_symlink_in_the_image_cannot_lead_a_target_out_of_the_root) {
    fs::path victim = dir_ / "victim";
    fs::create_directories(victim);
    fs::create_directories(dir_ / "data");
    fs::path layer = dir_ / "layer";
    fs::create_directories(layer);
    fs::create_symlink(victim, layer / "abs");
    fs::create_symlink("../../../../../../..", layer / "up");
    auto r = run({(dir_ / "data").string() + ":/abs/db", (dir_ / "data").string() + ":/up/x"},
                 "ls -d /" + victim.lexically_relative("/").string() + "/db /x", layer);
    ASSERT_FALSE(r.failure) << r.step() << ": " << std::strerror(r.error());
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_TRUE(fs::is_empty(victim)) << "nothing was created on the host";
    EXPECT_FALSE(fs::exists("/x"));
}

// The shim copies each source's mount before it enters the root template, whose namespace
// holds none of the host's paths, and attaches the copies below the new root all the same.
TEST_F(shim_volumes, volumes_attach_the_same_way_on_a_root_template) {
    on_template_ = true;
    fs::create_directories(dir_ / "data");
    fs::create_directories(dir_ / "www");
    std::ofstream(dir_ / "www" / "index.html") << "page\n";
    std::ofstream(dir_ / "conf") << "setting=1\n";
    const std::string db_options = options_script("/var/lib/db"); // one static buffer
    const std::string www_options = options_script("/www");
    auto r = run({(dir_ / "data").string() + ":/var/lib/db", (dir_ / "www").string() + ":/www:ro",
                  (dir_ / "conf").string() + ":/etc/app/app.conf:ro"},
                 "echo container > /var/lib/db/from-container && cat /www/index.html "
                 "/etc/app/app.conf; if (echo x > /www/new) 2>/dev/null; then echo WROTE; fi; " +
                     db_options + "; " + www_options);
    ASSERT_FALSE(r.failure) << r.step() << ": " << std::strerror(r.error());
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out.substr(0, 15), "page\nsetting=1\n") << r.out;
    EXPECT_EQ(r.out.find("WROTE"), std::string::npos);
    EXPECT_NE(r.out.find("rw,nosuid,nodev"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("ro,nosuid,nodev"), std::string::npos) << r.out;
    EXPECT_EQ(read_file(dir_ / "data" / "from-container"), "container\n");
    EXPECT_FALSE(fs::exists(dir_ / "www" / "new"));
}

TEST_F(shim_volumes, a_missing_source_is_a_failed_step) {
    auto r = run({(dir_ / "absent").string() + ":/data"}, "true");
    ASSERT_TRUE(r.failure);
    EXPECT_EQ(r.step(), "open volume " + (dir_ / "absent").string());
    EXPECT_EQ(r.error(), ENOENT);
    EXPECT_EQ(r.exit_code(), 127);
}

TEST_F(shim_volumes, a_directory_onto_a_file_is_a_failed_step) {
    fs::create_directories(dir_ / "data");
    auto r = run({(dir_ / "data").string() + ":/etc/passwd"}, "true");
    ASSERT_TRUE(r.failure);
    EXPECT_EQ(r.step(), "volume target /etc/passwd");
    EXPECT_EQ(r.error(), ENOTDIR);
}

TEST_F(shim_volumes, without_an_image_the_target_must_exist_on_the_host) {
    fs::create_directories(dir_ / "data");
    std::ofstream(dir_ / "data" / "f") << "vol\n";
    fs::create_directories(dir_ / "host-target");
    launch what;
    what.program = BERTH_SHIM_PATH;
    std::string target = (dir_ / "host-target").string();
    what.argv = berth::test::shim_argv(
        {"name=test/1", "ns=mount", "volume=" + (dir_ / "data").string() + ":" + target},
        {"/bin/busybox", "cat", target + "/f"});
    auto r = berth::test::run(what);
    ASSERT_FALSE(r.failure) << r.step() << ": " << std::strerror(r.error());
    EXPECT_EQ(r.out, "vol\n");
    EXPECT_TRUE(fs::is_empty(dir_ / "host-target")) << "the bind lived in the container only";

    std::string missing = (dir_ / "not-there").string();
    what.argv = berth::test::shim_argv(
        {"name=test/1", "ns=mount", "volume=" + (dir_ / "data").string() + ":" + missing},
        {"/bin/busybox", "true"});
    auto failed = berth::test::run(what);
    ASSERT_TRUE(failed.failure);
    EXPECT_EQ(failed.step(), "volume target " + missing);
    EXPECT_EQ(failed.error(), ENOENT);
    EXPECT_FALSE(fs::exists(missing)) << "nothing is created on the host's tree";
}

} // namespace
