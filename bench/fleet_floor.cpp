// The fleet benchmark's floor: N raw clone3 starts with berth's namespaces, straight into exec,
// each into a pre-made cgroup leaf, with no rootfs change and no supervision. bench/fleet runs
// it beside berth, crun and runc and states every other figure as a ratio to it.
//
// Usage: bench_fleet_floor CGROUP_PARENT N PROGRAM [ARG...]
//
// Creates CGROUP_PARENT/0 .. CGROUP_PARENT/N-1 (not timed), starts N copies of PROGRAM, one
// in each leaf, and prints one JSON line: {"phase":"running", ...}. It then waits for a line on
// stdin (the caller takes its own readings while the N processes run), kills them all with
// cgroup.kill, reaps them, removes the leaves and CGROUP_PARENT, and prints
// {"phase":"teardown", ...}. Exit status 0 on success, 1 with a message on stderr otherwise;
// on failure everything started so far is killed and removed as well.
#include "bench/bench_util.hpp"
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

// engine/clone3.S: clone3 running fn(arg) on its own stack in the child (needed for CLONE_VM).
extern "C" long berth_clone3(clone_args* args, size_t size, int (*fn)(void*), void* arg);

namespace {

using berth::bench::cpu_seconds;
using berth::bench::rss_kb;
using berth::bench::seconds_since;

using clk = std::chrono::steady_clock;

// What the child needs; the child shares the parent's memory (CLONE_VM), so it reports an
// exec failure by writing exec_errno before it exits.
struct child_args {
    const char* program;
    char* const* argv;
    char* const* envp;
    int exec_errno;
};

int child_main(void* raw) {
    auto* c = static_cast<child_args*>(raw);
    ::execve(c->program, c->argv, c->envp);
    c->exec_errno = errno;
    ::_exit(127);
}

alignas(64) char child_stack[64 * 1024];

// The leaves and the processes in them; remove() undoes everything, whatever was reached.
class floor_fleet {
public:
    explicit floor_fleet(std::string parent) : parent_(std::move(parent)) {}
    floor_fleet(const floor_fleet&) = delete;
    floor_fleet& operator=(const floor_fleet&) = delete;
    ~floor_fleet() { remove(); }

    bool make_leaves(int n, std::string& err) {
        if (::mkdir(parent_.c_str(), 0755) != 0) {
            err = "cgroup '" + parent_ + "': mkdir: " + std::strerror(errno);
            return false;
        }
        made_parent_ = true;
        for (int i = 0; i < n; ++i) {
            std::string leaf = parent_ + "/" + std::to_string(i);
            if (::mkdir(leaf.c_str(), 0755) != 0) {
                err = "cgroup '" + leaf + "': mkdir: " + std::strerror(errno);
                return false;
            }
            leaves_.push_back(std::move(leaf));
        }
        return true;
    }

    // Starts one process in leaf i; returns false with err set on failure.
    bool start(std::size_t i, child_args& child, std::string& err) {
        int cg = ::open(leaves_[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cg < 0) {
            err = "cgroup '" + leaves_[i] + "': open: " + std::strerror(errno);
            return false;
        }
        clone_args args{};
        args.flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP | CLONE_NEWPID | CLONE_NEWNS |
                     CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
        args.cgroup = static_cast<__u64>(cg);
        args.exit_signal = SIGCHLD;
        args.stack = reinterpret_cast<__u64>(child_stack);
        args.stack_size = sizeof child_stack;
        child.exec_errno = 0;
        long pid = berth_clone3(&args, sizeof args, child_main, &child);
        int clone_errno = static_cast<int>(-pid);
        ::close(cg);
        if (pid < 0) {
            err = "clone3: " + std::string(std::strerror(clone_errno));
            return false;
        }
        ++live_;
        if (child.exec_errno != 0) {
            err = "exec '" + std::string(child.program) + "': " + std::strerror(child.exec_errno);
            return false;
        }
        return true;
    }

    // Kills every process, reaps them, removes the leaves and the parent. Idempotent.
    void remove() {
        if (made_parent_) {
            std::ofstream(parent_ + "/cgroup.kill") << "1";
        }
        for (; live_ > 0; --live_) {
            int st = 0;
            if (::waitpid(-1, &st, 0) < 0 && errno == ECHILD) {
                break;
            }
        }
        live_ = 0;
        for (const auto& leaf : leaves_) {
            // A killed process leaves its cgroup shortly after it is reaped.
            for (int tries = 0; ::rmdir(leaf.c_str()) != 0 && errno == EBUSY && tries < 5000;
                 ++tries) {
                ::usleep(1000);
            }
        }
        leaves_.clear();
        if (made_parent_) {
            ::rmdir(parent_.c_str());
            made_parent_ = false;
        }
    }

    std::size_t size() const { return leaves_.size(); }

private:
    std::string parent_;
    std::vector<std::string> leaves_;
    bool made_parent_ = false;
    int live_ = 0;
};

int fail(const std::string& what) {
    std::fprintf(stderr, "bench_fleet_floor: %s\n", what.c_str());
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: bench_fleet_floor CGROUP_PARENT N PROGRAM [ARG...]\n");
        return 2;
    }
    std::string parent = argv[1];
    int n = std::atoi(argv[2]);
    if (n <= 0) {
        return fail("N: expected a positive count, got '" + std::string(argv[2]) + "'");
    }
    char path_env[] = "PATH=/bin:/usr/bin";
    char* envp[] = {path_env, nullptr};
    child_args child{argv[3], argv + 3, envp, 0};

    floor_fleet fleet(parent);
    std::string err;
    if (!fleet.make_leaves(n, err)) {
        return fail(err);
    }
    long rss0 = rss_kb();
    double cpu0 = cpu_seconds();
    auto t0 = clk::now();
    for (std::size_t i = 0; i < fleet.size(); ++i) {
        if (!fleet.start(i, child, err)) {
            return fail("start " + std::to_string(i) + ": " + err);
        }
    }
    double to_running = seconds_since(t0);
    std::printf(
        "{\"phase\":\"running\",\"n\":%d,\"to_running\":%.6f,\"cpu\":%.6f,\"rss_kb\":%ld}\n", n,
        to_running, cpu_seconds() - cpu0, rss_kb() - rss0);
    std::fflush(stdout);

    std::string line;
    std::getline(std::cin, line);
    auto t1 = clk::now();
    fleet.remove();
    std::printf("{\"phase\":\"teardown\",\"teardown\":%.6f}\n", seconds_since(t1));
    return 0;
}
