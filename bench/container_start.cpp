// Container start benchmark: N containers started from one loop, the way berth starts them
// (own cgroup leaf, mount+pid+uts+ipc+cgroup namespaces, overlay root over a shared image,
// busybox sleep), against two floors measured in the same run: posix_spawn of a static `true`
// with wait, and raw clone3 with the same namespaces straight into exec (no rootfs change,
// pre-made cgroups). Prints a table of ratios; see bench/README.md.
#include "bench/bench_util.hpp"
#include "engine/cgroup.hpp"
#include "engine/container.hpp"
#include "engine/layer_store.hpp"
#include "engine/root_template.hpp"
#include "engine/shim_spec.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

extern "C" long berth_clone3(clone_args* args, size_t size, int (*fn)(void*), void* arg);
extern char** environ;

namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

namespace {

using berth::bench::cpu_seconds;
using berth::bench::die;
using berth::bench::machine_busy_seconds;
using berth::bench::must;
using berth::bench::rss_kb;
using berth::bench::seconds_since;
using berth::bench::wait_until_idle;

struct options {
    std::vector<int> counts{1000, 5000};
    std::vector<int> heaps_mb{10, 500};
    std::string shim = BERTH_SHIM_PATH;
    std::string static_true = BERTH_STATIC_TRUE;
    berth::shim_root_switch root_switch =
        berth::shim_root_switch::on_template; // as berth's default
    int rounds = 3; // raw and berth rows per N, interleaved; the summary takes medians
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    return v[idx];
}

struct figures {
    double to_running = 0;       // s until all N run
    double cpu = 0;              // s of the starting process's CPU
    double machine_cpu = 0;      // s of all cores' busy time until all N run
    long rss_kb = 0;             // growth of the starting process
    double teardown = 0;         // s from kill to all reaped and cgroups removed
    std::vector<double> reap_ms; // kill-to-reaped latency per container
};

// berth's way: engine containers on one io_uring loop.
figures run_berth(int n, const std::string& cgroot, const fs::path& base, const options& opt) {
    boost::asio::io_context io;
    auto sp = must(berth::spawner::create(), "spawner");
    berth::reaper reap(io);
    auto tree = must(berth::cgroup::tree::open(cgroot), "cgroup tree");
    auto service = must(tree.create_service("bench"), "service cgroup");
    berth::layer_store store((base / "state").string());
    auto lower = must(store.mount_image("busybox", {(base / "layer").string()}), "image");
    auto dev = must(store.dev_template(), "dev tree"); // as berth passes it to every shim
    const auto scratch = (base / "state" / "scratch").string();
    berth::unique_fd root_ns; // once per image, like the image's mount: before the clock starts
    if (opt.root_switch == berth::shim_root_switch::on_template) {
        root_ns = must(berth::build_root_template({lower, dev, scratch}), "root template");
    }

    std::vector<std::unique_ptr<berth::container>> fleet;
    std::vector<std::string> leaves;
    fleet.reserve(static_cast<std::size_t>(n));
    int running = 0;
    int exited = 0;
    figures f;
    clk::time_point kill_time;
    f.reap_ms.reserve(static_cast<std::size_t>(n));
    long rss0 = rss_kb();
    double cpu0 = cpu_seconds();
    double busy0 = machine_busy_seconds();
    auto t0 = clk::now();
    for (int i = 0; i < n; ++i) {
        auto leaf = must(tree.create_replica("bench", std::to_string(i)), "leaf");
        leaves.push_back(leaf);
        auto fd = must(berth::cgroup::open_dir(leaf), "open leaf");
        berth::shim_spec spec;
        spec.name = "bench/" + std::to_string(i);
        spec.namespaces = {"mount", "uts", "ipc", "cgroup"};
        spec.lower = lower;
        spec.scratch = scratch;
        spec.dev = dev;
        spec.hostname = "bench-" + std::to_string(i);
        spec.command = {"/bin/sleep", "100000"};
        spec.root_switch = opt.root_switch;
        berth::container_launch l;
        l.name = spec.name;
        l.shim_path = opt.shim;
        l.argv = berth::shim_argv(spec);
        l.env = {"PATH=/bin"};
        l.cgroup_fd = fd.get();
        l.root_ns_fd = root_ns.get();
        auto c = std::make_unique<berth::container>(io, sp, reap);
        berth::container::callbacks cbs;
        cbs.on_running = [&running] { ++running; };
        cbs.on_exit = [&](const berth::container_exit& e) {
            ++exited;
            f.reap_ms.push_back(
                std::chrono::duration<double, std::milli>(e.process.reaped - kill_time).count());
        };
        must(c->start(l, std::move(cbs)), "start");
        fleet.push_back(std::move(c));
        io.poll();
    }
    while (running + exited < n) {
        io.run_one();
    }
    f.to_running = seconds_since(t0);
    f.machine_cpu = machine_busy_seconds() - busy0;
    f.cpu = cpu_seconds() - cpu0;
    f.rss_kb = rss_kb() - rss0;
    if (exited != 0) {
        die(std::to_string(exited) + " containers exited early");
    }

    kill_time = clk::now();
    must(berth::cgroup::kill_all(service), "kill");
    while (exited < n) {
        io.run_one();
    }
    for (const auto& leaf : leaves) {
        must(berth::cgroup::remove(leaf), "remove leaf");
    }
    f.teardown = seconds_since(kill_time);
    must(berth::cgroup::remove(service), "remove service");
    must(berth::cgroup::remove(tree.root()), "remove cgroup tree"); // open() made it
    must(store.release_image("busybox"), "release image");
    return f;
}

struct raw_child {
    const char* path;
    char* const* argv;
};

int raw_exec(void* arg) {
    auto* c = static_cast<raw_child*>(arg);
    ::execve(c->path, c->argv, environ);
    ::_exit(127);
}

alignas(64) char raw_stack[64 * 1024];

// The floor: clone3 with the same namespaces into a pre-made cgroup, straight into exec.
figures run_raw(int n, const std::string& cgroot) {
    figures f;
    ::mkdir(cgroot.c_str(), 0755);
    std::vector<std::string> leaves;
    for (int i = 0; i < n; ++i) {
        leaves.push_back(cgroot + "/" + std::to_string(i));
        if (::mkdir(leaves.back().c_str(), 0755) != 0) {
            die("mkdir " + leaves.back() + ": " + std::strerror(errno));
        }
    }
    char a0[] = "sleep";
    char a1[] = "100000";
    char* argv[] = {a0, a1, nullptr};
    raw_child child{"/bin/busybox", argv};
    std::vector<int> pidfds;
    long rss0 = rss_kb();
    double cpu0 = cpu_seconds();
    double busy0 = machine_busy_seconds();
    auto t0 = clk::now();
    for (int i = 0; i < n; ++i) {
        int cg =
            ::open(leaves[static_cast<std::size_t>(i)].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        int pidfd = -1;
        clone_args args{};
        args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_INTO_CGROUP | CLONE_NEWPID |
                     CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
        args.pidfd = reinterpret_cast<__u64>(&pidfd);
        args.cgroup = static_cast<__u64>(cg);
        args.exit_signal = SIGCHLD;
        args.stack = reinterpret_cast<__u64>(raw_stack);
        args.stack_size = sizeof raw_stack;
        long pid = berth_clone3(&args, sizeof args, raw_exec, &child);
        ::close(cg);
        if (pid < 0) {
            die(std::string("clone3: ") + std::strerror(static_cast<int>(-pid)));
        }
        pidfds.push_back(pidfd);
    }
    f.to_running = seconds_since(t0);
    f.machine_cpu = machine_busy_seconds() - busy0;
    f.cpu = cpu_seconds() - cpu0;
    f.rss_kb = rss_kb() - rss0;
    auto kill_time = clk::now();
    std::ofstream(cgroot + "/cgroup.kill") << "1";
    for (int fd : pidfds) {
        siginfo_t info{};
        ::waitid(P_PIDFD, static_cast<id_t>(fd), &info, WEXITED);
        f.reap_ms.push_back(
            std::chrono::duration<double, std::milli>(clk::now() - kill_time).count());
        ::close(fd);
    }
    for (const auto& leaf : leaves) {
        while (::rmdir(leaf.c_str()) != 0 && errno == EBUSY) {
            ::usleep(1000);
        }
    }
    f.teardown = seconds_since(kill_time);
    ::rmdir(cgroot.c_str());
    return f;
}

// The other floor: posix_spawn + wait of a static no-op, one at a time.
double posix_spawn_seconds(int n, const std::string& program) {
    char a0[] = "true";
    char* argv[] = {a0, nullptr};
    auto t0 = clk::now();
    for (int i = 0; i < n; ++i) {
        pid_t pid = 0;
        if (::posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv, environ) != 0) {
            die("posix_spawn " + program);
        }
        int st = 0;
        ::waitpid(pid, &st, 0);
    }
    return seconds_since(t0);
}

std::vector<char> grow_heap(int mb) {
    std::vector<char> heap(static_cast<std::size_t>(mb) << 20);
    for (std::size_t i = 0; i < heap.size(); i += 4096) {
        heap[i] = 1; // touch every page: it must be really resident
    }
    return heap;
}

} // namespace

int main(int argc, char** argv) {
    options opt;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--counts" && i + 1 < argc) {
            opt.counts.clear();
            std::string list = argv[++i];
            for (std::size_t pos = 0; pos < list.size();) {
                auto comma = list.find(',', pos);
                opt.counts.push_back(std::stoi(list.substr(pos, comma - pos)));
                pos = comma == std::string::npos ? list.size() : comma + 1;
            }
        } else if (a == "--switch" && i + 1 < argc) {
            std::string how = argv[++i];
            if (how == "pivot") {
                opt.root_switch = berth::shim_root_switch::pivot;
            } else if (how == "move") {
                opt.root_switch = berth::shim_root_switch::move;
            } else if (how != "template") {
                die("--switch: not pivot, move or template");
            }
        } else if (a == "--heaps" && i + 1 < argc) {
            opt.heaps_mb = {10, std::stoi(argv[++i])};
        } else if (a == "--rounds" && i + 1 < argc) {
            opt.rounds = std::max(1, std::stoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: bench_container_start [--counts 1000,5000] [--heaps MB] "
                                 "[--switch template|pivot|move] [--rounds 3]\n");
            return 2;
        }
    }
    if (::geteuid() != 0) {
        die("needs root");
    }
    rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max; // raising the hard limit needs CAP_SYS_RESOURCE
    ::setrlimit(RLIMIT_NOFILE, &nofile);
    auto mount = must(berth::cgroup::mount_point(), "cgroup2");
    fs::path base = fs::temp_directory_path() / ("berth-bench-" + std::to_string(::getpid()));
    fs::create_directories(base / "state" / "scratch");
    std::string make =
        "bash " BERTH_SOURCE_DIR "/scripts/make-busybox-layer.sh " + (base / "layer").string();
    if (std::system(make.c_str()) != 0) {
        die("make-busybox-layer failed");
    }

    // cpu: the starting process's own; machine: all cores' busy time until all N run, the
    // children's and the kernel's work included.
    std::printf("%-28s %6s %9s %9s %9s %9s %9s %9s %9s %9s\n", "run", "N", "all up s", "starts/s",
                "cpu us/st", "mach us/st", "rss kB/c", "reap p50", "reap p99", "teardown");
    auto print = [](const char* name, int n, const figures& f) {
        std::printf("%-28s %6d %9.3f %9.0f %9.1f %10.1f %9.1f %7.1fms %7.1fms %8.3fs\n", name, n,
                    f.to_running, n / f.to_running, f.cpu / n * 1e6, f.machine_cpu / n * 1e6,
                    static_cast<double>(f.rss_kb) / n, percentile(f.reap_ms, 0.5),
                    percentile(f.reap_ms, 0.99), f.teardown);
    };
    for (int n : opt.counts) {
        double ps = posix_spawn_seconds(n, opt.static_true);
        std::printf("%-28s %6d %9.3f %9.0f\n", "posix_spawn static true+wait", n, ps, n / ps);
        // Rounds interleaved, so that load from elsewhere hits both rows alike; one round
        // alone moved the ratio from 1.54x to 2.37x between two runs.
        std::vector<double> raw_s, berth_s, ratios, raw_busy, berth_busy;
        for (int round = 0; round < opt.rounds; ++round) {
            wait_until_idle();
            auto raw = run_raw(n, mount + "/berth-bench-raw-" + std::to_string(::getpid()));
            wait_until_idle();
            auto berth_run =
                run_berth(n, mount + "/berth-bench-" + std::to_string(::getpid()), base, opt);
            print("raw clone3+ns+exec", n, raw);
            print("berth engine", n, berth_run);
            raw_s.push_back(raw.to_running);
            berth_s.push_back(berth_run.to_running);
            ratios.push_back(berth_run.to_running / raw.to_running);
            raw_busy.push_back(raw.machine_cpu);
            berth_busy.push_back(berth_run.machine_cpu);
        }
        std::string each;
        for (double r : ratios) {
            each += (each.empty() ? "" : ", ") + std::to_string(r).substr(0, 4);
        }
        const double raw_median = percentile(raw_s, 0.5);
        const double berth_median = percentile(berth_s, 0.5);
        std::printf("  median of %d rounds: berth %.3f s, raw clone3+ns+exec %.3f s: %.2fx "
                    "(rounds: %s); / posix_spawn: %.2fx\n",
                    opt.rounds, berth_median, raw_median, berth_median / raw_median, each.c_str(),
                    berth_median / ps);
        const double raw_busy_median = percentile(raw_busy, 0.5);
        const double berth_busy_median = percentile(berth_busy, 0.5);
        std::printf("  machine CPU until all run, medians: berth %.3f s, raw %.3f s: %.2fx\n\n",
                    berth_busy_median, raw_busy_median, berth_busy_median / raw_busy_median);
    }
    // Start cost against the starting process's own size.
    int n = std::min(1000, opt.counts.front());
    std::vector<double> times;
    for (int mb : opt.heaps_mb) {
        auto heap = grow_heap(mb);
        wait_until_idle();
        auto f = run_berth(n, mount + "/berth-bench-heap-" + std::to_string(::getpid()), base, opt);
        times.push_back(f.to_running);
        std::printf("heap %4d MB (rss %ld MB): N=%d all up in %.3f s\n", mb, rss_kb() / 1024, n,
                    f.to_running);
    }
    std::printf("  start time at %d MB / at %d MB heap: %.2fx\n", opt.heaps_mb.back(),
                opt.heaps_mb.front(), times.back() / times.front());
    fs::remove_all(base);
    return 0;
}
