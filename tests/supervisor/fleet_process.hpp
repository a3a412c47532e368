// A berth process for host tests: a temp directory and cgroup of its own, a fleet file with
// the common [supervisor] header, `berth run` started and stopped by pid, waits on its log
// and the replicas' logs, and the `berth` storage commands against the test's storage_dir.
//
// With BERTH_TEST_AS_PID1=1 in the environment (ctest runs each suite that uses this fixture
// a second time so, as "pid1:<test>"), berth runs as PID 1 of fresh pid, mount and uts
// namespaces, as `unshare --pid --fork --mount-proc` would start it: every test then also
// shows the fleet's behaviour with berth as an init.
#pragma once

#include "engine/cgroup.hpp"
#include "engine/mountinfo.hpp"
#include "engine/unique_fd.hpp"
#include "tests/engine/image_test_util.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace berth::test {

using namespace std::chrono_literals;

inline std::size_t count_of(const std::string& text, const std::string& word) {
    std::size_t n = 0;
    for (auto pos = text.find(word); pos != std::string::npos; pos = text.find(word, pos + 1)) {
        ++n;
    }
    return n;
}

// GET `path` from 127.0.0.1:port over HTTP/1.1 with "Connection: close": the whole response
// (status line, headers, body), or "" when it could not connect.
inline std::string http_get(std::uint16_t port, const std::string& path) {
    berth::unique_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval tv{5, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        return "";
    }
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(s.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        return "";
    }
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::recv(s.get(), buf, sizeof buf, 0)) > 0;) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

// The value of the sample `series` (name and labels exactly as exposed) in an exposition, or
// nullopt when that series is absent.
inline std::optional<double> sample(const std::string& exposition, const std::string& series) {
    std::istringstream in(exposition);
    for (std::string line; std::getline(in, line);) {
        if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
            line[series.size()] == ' ') {
            return std::stod(line.substr(series.size() + 1));
        }
    }
    return std::nullopt;
}

class fleet_process_test : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root (namespaces, mounts, cgroups)";
        }
        auto mount = berth::cgroup::mount_point();
        if (!mount) {
            GTEST_SKIP() << "needs a cgroup2 hierarchy: " << mount.error().message();
        }
        if (!fs::exists("/bin/busybox")) {
            GTEST_SKIP() << "needs /bin/busybox (busybox-static)";
        }
        base_ = fs::temp_directory_path() /
                ("berth-fleet-process-" + std::string(prefix_) + "-" + std::to_string(::getpid()));
        fs::remove_all(base_);
        fs::create_directories(base_);
        cgroot_ = *mount + "/berth-fleet-process-" + std::string(prefix_) + "-" +
                  std::to_string(::getpid());
        storage_ = base_ / "storage";
    }

    void TearDown() override {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (!cgroot_.empty()) {
            (void)berth::cgroup::remove_tree(cgroot_);
        }
        if (!base_.empty()) {
            if (auto m = berth::read_mountinfo()) {
                auto left = berth::mounts_under(*m, base_.string());
                EXPECT_TRUE(left.empty()) << "a mount is left: " << left.front().mount_point;
                for (const auto& e : left) {
                    ::umount2(e.mount_point.c_str(), MNT_DETACH);
                }
            }
            fs::remove_all(base_);
        }
    }

    // Runs `berth ARGS... --root STORAGE` to its end; returns its exit code.
    int berth_cli(std::vector<std::string> args) {
        args.push_back("--root");
        args.push_back(storage_.string());
        pid_t pid = ::fork();
        if (pid == 0) {
            int err = ::open((base_ / "cli.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(err, 2);
            int out = ::open("/dev/null", O_WRONLY);
            ::dup2(out, 1);
            std::vector<char*> argv;
            std::string berth = std::string(BERTH_BINARY_DIR) + "/bin/berth";
            argv.push_back(berth.data());
            for (auto& a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            ::execv(berth.c_str(), argv.data());
            ::_exit(126);
        }
        int st = 0;
        ::waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }

    // The busybox rootfs of scripts/make-busybox-layer.sh, made once per test; once made,
    // write_fleet declares it as [image.busybox].
    fs::path busybox_layer() {
        auto layer = base_ / "layer";
        if (!fs::exists(layer)) {
            std::string make = std::string("bash ") + BERTH_SOURCE_DIR +
                               "/scripts/make-busybox-layer.sh " + layer.string();
            EXPECT_EQ(std::system(make.c_str()), 0) << make;
        }
        return layer;
    }

    // A fleet file with the common [supervisor] header; `services` is appended as is. No
    // metrics endpoint unless `metrics_listen` says where: tests run in parallel, and 9464
    // is the default.
    fs::path write_fleet(const std::string& services, const std::string& metrics_listen = "none") {
        auto path = base_ / "fleet.toml";
        std::ofstream out(path);
        out << "[supervisor]\n"
            << "cgroup_root = \"" << cgroot_ << "\"\n"
            << "state_dir = \"" << (base_ / "state").string() << "\"\n"
            << "storage_dir = \"" << storage_.string() << "\"\n"
            << "shutdown_timeout = \"5s\"\n"
            << "metrics_listen = \"" << metrics_listen << "\"\n\n";
        if (fs::exists(base_ / "layer")) {
            out << "[image.busybox]\nlayers = [\"" << (base_ / "layer").string() << "\"]\n\n";
        }
        out << services;
        return path;
    }

    // `berth run FLEET`, its stderr in berth.err. With as_pid1_: as PID 1 of new pid, mount
    // and uts namespaces with a /proc of its own, made with clone so that berth is still the
    // test's own child (pid_, signalled and waited for).
    void start_berth(const fs::path& fleet) {
        long pid = as_pid1_
                       ? ::syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | SIGCHLD,
                                   nullptr, nullptr, nullptr, nullptr)
                       : ::fork();
        ASSERT_GE(pid, 0) << std::strerror(errno);
        if (pid == 0) {
            int err = ::open((base_ / "berth.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(err, 2);
            // Private first: berth's unmounts at power off must not reach the host.
            if (as_pid1_ && (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
                             ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                     nullptr) != 0)) {
                std::perror("fleet_process_test: mount");
                ::_exit(125);
            }
            std::string berth = std::string(BERTH_BINARY_DIR) + "/bin/berth";
            ::execl(berth.c_str(), "berth", "run", fleet.c_str(), nullptr);
            ::_exit(126);
        }
        pid_ = static_cast<pid_t>(pid);
    }

    // Sends SIGTERM and returns berth's exit status (-1 if it did not exit within `limit`),
    // as `berth run` on a host reports it. As PID 1, berth ends by powering off, which the
    // kernel reports for the init of a pid namespace as death by SIGINT (reboot(2)): that
    // counts as 0 when berth's log says it powered off. stop_status_ keeps the raw figure.
    int stop_berth(std::chrono::seconds limit = 20s) {
        ::kill(pid_, SIGTERM);
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                stop_status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                if (as_pid1_ && stop_status_ == 128 + SIGINT &&
                    berth_log().find("pid1: powering off") != std::string::npos) {
                    return 0;
                }
                return stop_status_;
            }
            std::this_thread::sleep_for(20ms);
        }
        return -1;
    }

    // Waits (bounded) until `file` holds `text` `times` times.
    static bool wait_for(const fs::path& file, const std::string& text, std::size_t times = 1,
                         std::chrono::seconds limit = 30s) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (count_of(slurp(file), text) >= times) {
                return true;
            }
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }

    // Waits (bounded) until berth's stderr holds `text` `times` times.
    bool wait_for_log(const std::string& text, std::size_t times = 1,
                      std::chrono::seconds limit = 30s) const {
        return wait_for(base_ / "berth.err", text, times, limit);
    }

    std::string berth_log() const { return slurp(base_ / "berth.err"); }

    fs::path replica_log(const std::string& service, int index) const {
        return base_ / "state" / "logs" / service / (std::to_string(index) + ".log");
    }

    // Names this suite's temp directory and cgroup, so suites running in parallel differ.
    const char* prefix_ = "test";
    // berth runs as PID 1 of its own pid namespace (see the top of this file).
    bool as_pid1_ = [] {
        const char* v = std::getenv("BERTH_TEST_AS_PID1");
        return v != nullptr && std::string(v) == "1";
    }();
    // The port berth logged for its metrics endpoint (metrics_listen = "127.0.0.1:0"), 0 if it
    // logged none in time.
    std::uint16_t metrics_port() {
        const std::string prefix = "metrics endpoint http://127.0.0.1:";
        if (!wait_for_log(prefix)) {
            return 0;
        }
        auto log = berth_log();
        return static_cast<std::uint16_t>(std::stoi(log.substr(log.find(prefix) + prefix.size())));
    }

    // Scrapes /metrics until `done` holds for the exposition (bounded); returns the last one.
    // berth's collector reads the cgroups in cycles 10 s apart (docs/metrics.md; the fleet
    // file cannot shorten that), so a new container's series take up to a cycle to appear.
    std::string scrape_until(std::uint16_t port,
                             const std::function<bool(const std::string&)>& done,
                             std::chrono::seconds limit = std::chrono::seconds(40)) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        std::string body;
        while (true) {
            auto response = http_get(port, "/metrics");
            auto split = response.find("\r\n\r\n");
            body = split == std::string::npos ? "" : response.substr(split + 4);
            if (done(body) || std::chrono::steady_clock::now() >= deadline) {
                return body;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }

    int stop_status_ = -1;
    fs::path base_;
    fs::path storage_;
    std::string cgroot_;
    pid_t pid_ = -1;
};

} // namespace berth::test
