// Host tests of root templates (engine/root_template.hpp): what a process that enters one sees
// (the lower and dev directories at their paths, read-only, an empty scratch directory, and
// nothing else of the host), the refused paths, a failing step, and the shared cache.
#include "engine/root_template.hpp"
#include "tests/common/temp_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>

namespace fs = std::filesystem;

namespace {

class root_template_host : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root (mount namespaces)";
        }
        dir_.write("lower/image-marker", "image\n");
        dir_.write("dev/null-stand-in", "");
        fs::create_directories(dir_.path() / "scratch");
        host_marker_ = dir_.write("host-only-marker", "host\n");
    }

    berth::root_template_paths paths() const {
        return {(dir_.path() / "lower").string(), (dir_.path() / "dev").string(),
                (dir_.path() / "scratch").string()};
    }

    // Runs checks in a forked child that has entered the template; returns its lines.
    static std::string inside(int ns, const std::function<std::string()>& checks) {
        int p[2];
        EXPECT_EQ(::pipe(p), 0);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(p[0]);
            std::string out = ::setns(ns, CLONE_NEWNS) == 0
                                  ? checks()
                                  : std::string("setns: ") + std::strerror(errno) + "\n";
            ssize_t ignored = ::write(p[1], out.data(), out.size());
            (void)ignored;
            ::_exit(0);
        }
        ::close(p[1]);
        std::string text;
        char buf[4096];
        for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) {
            text.append(buf, static_cast<std::size_t>(n));
        }
        ::close(p[0]);
        int status = 0;
        ::waitpid(pid, &status, 0);
        return text;
    }

    static std::string entries(const std::string& path) {
        std::set<std::string> names;
        if (DIR* d = ::opendir(path.c_str())) {
            while (dirent* e = ::readdir(d)) {
                std::string n = e->d_name;
                if (n != "." && n != "..") {
                    names.insert(n);
                }
            }
            ::closedir(d);
        }
        std::string out;
        for (const auto& n : names) {
            out += n + " ";
        }
        return out;
    }

    berth::test::temp_dir dir_;
    fs::path host_marker_;
};

TEST_F(root_template_host, holds_only_its_paths_read_only) {
    auto ns = berth::build_root_template(paths());
    ASSERT_TRUE(ns) << ns.error().message();
    const auto lower = paths().lower;
    const auto dev = paths().dev;
    const auto scratch = paths().scratch;
    const auto marker = host_marker_.string();
    auto seen = inside(ns->get(), [&] {
        std::string out;
        // "/" holds only the first component of the temp dir's path (/tmp here).
        out += "root: " + entries("/") + "\n";
        out += "lower: " + entries(lower) + "\n";
        out += "dev: " + entries(dev) + "\n";
        out += "scratch: " + entries(scratch) + "\n";
        out += std::string("host marker: ") +
               (::access(marker.c_str(), F_OK) == 0 ? "SEEN" : "absent") + "\n";
        out +=
            std::string("proc: ") + (::access("/proc/self", F_OK) == 0 ? "SEEN" : "absent") + "\n";
        bool root_rw = ::mkdir("/new", 0755) == 0 || errno != EROFS;
        bool lower_rw = ::mkdir((lower + "/new").c_str(), 0755) == 0 || errno != EROFS;
        out += std::string("root writable: ") + (root_rw ? "yes" : "no") + "\n";
        out += std::string("lower writable: ") + (lower_rw ? "yes" : "no") + "\n";
        return out;
    });
    const auto top = (++fs::path(lower).begin())->string(); // "tmp" of /tmp/berth-test-...
    EXPECT_EQ(seen, "root: " + top + " \n" +
                        "lower: image-marker \n"
                        "dev: null-stand-in \n"
                        "scratch: \n"
                        "host marker: absent\n"
                        "proc: absent\n"
                        "root writable: no\n"
                        "lower writable: no\n");
    // Nothing of it shows on the host.
    EXPECT_TRUE(fs::is_empty(scratch));
}

TEST_F(root_template_host, refuses_paths_it_cannot_hold) {
    auto p = paths();
    p.lower = "relative/lower";
    auto r = berth::build_root_template(p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), EINVAL);
    EXPECT_NE(r.error().message().find("'relative/lower' is not a usable path"), std::string::npos)
        << r.error().message();

    p = paths();
    p.lower = p.scratch + "/inside"; // the tmpfs over scratch would hide it
    r = berth::build_root_template(p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), EINVAL);

    p = paths();
    p.dev = "/a/../etc";
    EXPECT_FALSE(berth::build_root_template(p));
}

TEST_F(root_template_host, a_missing_lower_fails_at_its_bind) {
    auto p = paths();
    p.lower = (dir_.path() / "no-such-lower").string();
    auto r = berth::build_root_template(p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ENOENT);
    EXPECT_EQ(r.error().message(),
              "root template for '" + p.lower + "': bind: " + std::strerror(ENOENT));
}

TEST_F(root_template_host, several_lowers_are_each_bound) {
    dir_.write("upper-layer/top-marker", "top\n");
    auto p = paths();
    const auto top = (dir_.path() / "upper-layer").string();
    p.lower = top + ":" + p.lower;
    auto ns = berth::build_root_template(p);
    ASSERT_TRUE(ns) << ns.error().message();
    const auto lower = paths().lower;
    auto seen = inside(ns->get(), [&] { return entries(top) + "| " + entries(lower); });
    EXPECT_EQ(seen, "top-marker | image-marker ");
}

TEST_F(root_template_host, the_cache_builds_once_per_lower_and_closes_with_the_last_release) {
    berth::root_templates cache;
    auto a = cache.acquire(paths());
    ASSERT_TRUE(a) << a.error().message();
    auto b = cache.acquire(paths());
    ASSERT_TRUE(b) << b.error().message();
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(cache.size(), 1u);
    cache.release(paths().lower);
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_GE(::fcntl(*a, F_GETFD), 0) << "still open for the second holder";
    cache.release(paths().lower);
    EXPECT_EQ(cache.size(), 0u);
    cache.release(paths().lower); // one too many: nothing to drop, no harm

    auto p = paths();
    p.lower = (dir_.path() / "no-such-lower").string();
    EXPECT_FALSE(cache.acquire(p));
    EXPECT_EQ(cache.size(), 0u);
}

} // namespace
