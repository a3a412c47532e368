// Metrics benchmark: N containers' cgroup statistics refreshed by the collector on one loop
// and scraped through the /metrics handler. Prints, per kind of cgroup directory, the full
// refresh time, the longest batch (the longest the loop is held), the scrape latency and
// size, and the lateness of a 1 ms probe timer during a refresh with a scrape in the middle,
// against the goals (scrape <= 250 ms, no loop stall over 10 ms at 10,000 containers).
//
//   bench_metrics_scrape [--containers N] [--services S] [--batch-size B] [--fds F]
//                        [--kind fake|cgroup|both] [--no-compare]
//
// Kinds: "fake" = plain directories on tmpfs (/dev/shm) holding all six statistics files, as
// if every controller were enabled (tmpfs reads are cheaper than cgroupfs's generated ones);
// "cgroup" = real, empty cgroup2 leaves (root only), which on a hierarchy without controllers
// hold cpu.stat alone, so the other five reads fail fast with ENOENT. --fds opens that many
// extra descriptors first, as the supervisor holds ~2 per container (pidfd, output pipe), so
// that berth_process_open_fds costs what it would. The comparison row serializes the same
// number of series through prometheus-cpp's TextSerializer, the route not taken.
#include "engine/cgroup.hpp"
#include "engine/log.hpp"
#include "metrics/collector.hpp"
#include "metrics/endpoint.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;
using namespace berth;

namespace {

struct options {
    int containers = 10000;
    int services = 100;
    std::size_t batch_size = metrics::collector_options{}.batch_size;
    int fds = -1; // default: 2 per container
    std::string kind = ::geteuid() == 0 ? "both" : "fake";
    bool compare = true;
};

double ms(clk::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

double thread_cpu_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string one, five;
    in >> one >> five;
    return one + " " + five;
}

const char* verdict(bool ok) {
    return ok ? "ok" : "MISSED";
}

// The directories of one run, removed (deepest first) when it ends.
class tree {
public:
    tree(std::string root, bool cgroupfs) : root_(std::move(root)), cgroupfs_(cgroupfs) {}
    ~tree() {
        for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
            if (cgroupfs_) {
                if (auto st = cgroup::remove(*it); !st) {
                    std::fprintf(stderr, "cleanup: %s\n", st.error().message().c_str());
                }
            } else {
                std::error_code ec;
                fs::remove_all(*it, ec);
            }
        }
    }
    bool mkdir(const std::string& path) {
        if (::mkdir(path.c_str(), 0755) != 0) {
            std::fprintf(stderr, "mkdir '%s': %s\n", path.c_str(), std::strerror(errno));
            return false;
        }
        dirs_.push_back(path);
        return true;
    }
    const std::string& root() const { return root_; }

private:
    std::string root_;
    bool cgroupfs_;
    std::vector<std::string> dirs_;
};

void write_file(const std::string& path, const char* content) {
    std::ofstream(path) << content;
}

void fill_fake(const std::string& dir, int i) {
    write_file(dir + "/cpu.stat", "usage_usec 123456789\nuser_usec 100000000\nsystem_usec "
                                  "23456789\nnr_periods 5000\nnr_throttled 17\nthrottled_usec "
                                  "99000\nnr_bursts 0\nburst_usec 0\n");
    write_file(dir + "/memory.current", (std::to_string(1000000 + i * 4096) + "\n").c_str());
    write_file(dir + "/memory.peak", "73400320\n");
    write_file(dir + "/memory.events", "low 0\nhigh 12\nmax 3\noom 0\noom_kill 0\n"
                                       "oom_group_kill 0\n");
    write_file(dir + "/pids.current", "3\n");
    write_file(dir + "/io.stat", "254:0 rbytes=1200128 wbytes=409600 rios=40 wios=12 dbytes=0 "
                                 "dios=0\n");
}

struct run_figures {
    metrics::refresh_report cold;
    metrics::refresh_report warm;
    double warm_cpu_ms = 0;
    double scrape_ms_median = 0;
    double scrape_ms_max = 0;
    double scrape_cpu_ms_median = 0;
    std::size_t scrape_bytes = 0;
    std::size_t series = 0;
    double mixed_longest_batch_ms = 0;
    double mixed_scrape_ms = 0;
    double mixed_longest_batch_cpu_ms = 0;
    double probe_late_max_ms = 0;
};

// A 1 ms timer that records how late it fires: what any other completion on the loop sees.
class probe {
public:
    explicit probe(boost::asio::io_context& io) : timer_(io) {}
    void start() {
        active_ = true;
        arm();
    }
    void stop() {
        active_ = false;
        timer_.cancel();
    }
    double worst_ms() const { return worst_ms_; }

private:
    void arm() {
        due_ = clk::now() + std::chrono::milliseconds(1);
        timer_.expires_at(due_);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec || !active_) {
                return;
            }
            worst_ms_ = std::max(worst_ms_, ms(clk::now() - due_));
            arm();
        });
    }
    boost::asio::steady_timer timer_;
    clk::time_point due_;
    double worst_ms_ = 0;
    bool active_ = false;
};

std::size_t count_series(const std::string& body) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < body.size();) {
        std::size_t end = body.find('\n', i);
        if (body[i] != '#') {
            ++n;
        }
        i = end == std::string::npos ? body.size() : end + 1;
    }
    return n;
}

bool run(const options& opt, const std::string& kind, run_figures& out) {
    bool cgroupfs = kind == "cgroup";
    std::string base;
    if (cgroupfs) {
        auto mount = cgroup::mount_point();
        if (!mount) {
            std::fprintf(stderr, "%s\n", mount.error().message().c_str());
            return false;
        }
        base = *mount;
    } else {
        base = "/dev/shm";
    }
    tree dirs(base + "/berth-bench-metrics-" + std::to_string(::getpid()), cgroupfs);
    if (!dirs.mkdir(dirs.root())) {
        return false;
    }

    metrics::registry::options ro;
    ro.replica_states = {"waiting",  "starting", "running", "ready",
                         "stopping", "backoff",  "exited",  "failed"};
    ro.running_states = {"running", "ready", "stopping"};
    metrics::registry reg(ro);
    int per_service = std::max(1, opt.containers / std::max(1, opt.services));
    auto setup_start = clk::now();
    for (int i = 0; i < opt.containers; ++i) {
        std::string svc = "service-" + std::to_string(i / per_service);
        std::string replica = std::to_string(i % per_service);
        std::string svc_dir = dirs.root() + "/" + svc;
        if (i % per_service == 0) {
            if (!dirs.mkdir(svc_dir)) {
                return false;
            }
            reg.set_service(svc, static_cast<std::uint32_t>(per_service));
        }
        std::string leaf = svc_dir + "/" + replica;
        if (!dirs.mkdir(leaf)) {
            return false;
        }
        if (!cgroupfs) {
            fill_fake(leaf, i);
        }
        reg.container_added(svc, replica, leaf);
        reg.replica_state(svc, replica, "ready");
    }
    std::printf("  %s: %d containers in %d services set up in %.0f ms\n", kind.c_str(),
                opt.containers, (opt.containers + per_service - 1) / per_service,
                ms(clk::now() - setup_start));

    boost::asio::io_context io;
    metrics::collector_options co;
    co.batch_size = opt.batch_size;
    metrics::collector coll(io, reg, co);
    metrics::endpoint ep(reg, &coll);
    http::request get;
    get.method = "GET";
    get.target = "/metrics";

    // Two plain refreshes: the first renders every container for the first time.
    for (auto* report : {&out.cold, &out.warm}) {
        double c0 = thread_cpu_ms();
        coll.refresh();
        io.restart();
        io.run();
        *report = coll.last_report();
        out.warm_cpu_ms = thread_cpu_ms() - c0;
    }

    std::vector<double> scrapes;
    std::vector<double> scrape_cpu;
    for (int i = 0; i < 7; ++i) {
        auto t0 = clk::now();
        double c0 = thread_cpu_ms();
        auto res = ep(get);
        scrape_cpu.push_back(thread_cpu_ms() - c0);
        scrapes.push_back(ms(clk::now() - t0));
        out.scrape_bytes = res.body.size();
        if (i == 0) {
            out.series = count_series(res.body);
        }
    }
    std::sort(scrapes.begin(), scrapes.end());
    out.scrape_ms_median = scrapes[scrapes.size() / 2];
    out.scrape_ms_max = scrapes.back();
    std::sort(scrape_cpu.begin(), scrape_cpu.end());
    out.scrape_cpu_ms_median = scrape_cpu[scrape_cpu.size() / 2];

    // A refresh with a scrape halfway through and the probe timer running all along.
    probe p(io);
    io.restart();
    p.start();
    auto scrape_midway = [&] {
        auto t0 = clk::now();
        auto res = ep(get);
        out.mixed_scrape_ms = ms(clk::now() - t0);
    };
    coll.refresh([&] { p.stop(); });
    boost::asio::steady_timer half(io);
    half.expires_after(std::chrono::microseconds(static_cast<long>(
        std::chrono::duration<double, std::micro>(out.warm.elapsed).count() / 2)));
    half.async_wait([&](const boost::system::error_code&) { scrape_midway(); });
    io.run();
    out.mixed_longest_batch_ms = ms(coll.last_report().longest_batch);
    out.mixed_longest_batch_cpu_ms = ms(coll.last_report().longest_batch_cpu);
    out.probe_late_max_ms = p.worst_ms();
    return true;
}

double serializer_ms(std::size_t series, std::size_t& bytes) {
    // The same number of series, two labels each, through prometheus-cpp.
    std::vector<prometheus::MetricFamily> families(17);
    std::size_t per_family = series / families.size() + 1;
    auto t0 = clk::now();
    for (std::size_t f = 0; f < families.size(); ++f) {
        auto& mf = families[f];
        mf.name = "berth_container_family_" + std::to_string(f) + "_total";
        mf.help = "A family of the comparison.";
        mf.type = prometheus::MetricType::Counter;
        mf.metric.reserve(per_family);
        for (std::size_t i = 0; i < per_family; ++i) {
            prometheus::ClientMetric m;
            m.label = {{"replica", std::to_string(i % 100)},
                       {"service", "service-" + std::to_string(i / 100)}};
            m.counter.value = static_cast<double>(i) * 1.25;
            mf.metric.push_back(std::move(m));
        }
    }
    std::string text = prometheus::TextSerializer().Serialize(families);
    bytes = text.size();
    return ms(clk::now() - t0);
}

// Opens up to `n` descriptors of /dev/null, within the hard RLIMIT_NOFILE (raising it needs
// CAP_SYS_RESOURCE, which root may lack here) less room for the run; returns how many.
int open_extra_fds(int n) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
    long room = static_cast<long>(lim.rlim_cur) - 1024;
    int want = static_cast<int>(std::min<long>(n, std::max(0L, room)));
    for (int i = 0; i < want; ++i) {
        if (::open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) {
            std::fprintf(stderr, "open extra fd %d: %s\n", i, std::strerror(errno));
            return i;
        }
    }
    return want;
}

} // namespace

int main(int argc, char** argv) {
    options opt;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--containers") {
            opt.containers = std::stoi(next());
        } else if (a == "--services") {
            opt.services = std::stoi(next());
        } else if (a == "--batch-size") {
            opt.batch_size = static_cast<std::size_t>(std::stoul(next()));
        } else if (a == "--fds") {
            opt.fds = std::stoi(next());
        } else if (a == "--kind") {
            opt.kind = next();
        } else if (a == "--no-compare") {
            opt.compare = false;
        } else {
            std::fprintf(stderr,
                         "usage: %s [--containers N] [--services S] [--batch-size B] "
                         "[--fds F] [--kind fake|cgroup|both] [--no-compare]\n",
                         argv[0]);
            return 2;
        }
    }
    if (opt.fds < 0) {
        opt.fds = 2 * opt.containers;
    }
    if ((opt.kind == "cgroup" || opt.kind == "both") && ::geteuid() != 0) {
        std::fprintf(stderr, "--kind %s needs root (real cgroup2 leaves)\n", opt.kind.c_str());
        return 2;
    }
    berth::log::set_level(spdlog::level::warn);
    int wanted_fds = opt.fds;
    opt.fds = open_extra_fds(opt.fds);
    if (opt.fds < wanted_fds) {
        std::printf("note: %d extra fds wanted, %d opened (RLIMIT_NOFILE)\n", wanted_fds, opt.fds);
    }

    std::printf("metrics scrape benchmark: %d containers, batch size %zu, %d extra fds open, "
                "load average %s\n",
                opt.containers, opt.batch_size, opt.fds, load_average().c_str());
    std::vector<std::string> kinds;
    if (opt.kind == "both") {
        kinds = {"fake", "cgroup"};
    } else {
        kinds = {opt.kind};
    }
    std::vector<std::pair<std::string, run_figures>> results;
    for (const auto& kind : kinds) {
        run_figures f;
        if (!run(opt, kind, f)) {
            return 1;
        }
        results.emplace_back(kind, f);
    }

    auto num = [](double v, const char* unit) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.2f %s", v, unit);
        return std::string(buf);
    };
    using figure = std::function<std::string(const run_figures&)>;
    struct row {
        const char* name;
        figure value;
        const char* goal = "";
    };
    auto stall = [&](double worst) { return num(worst, "ms") + " " + verdict(worst <= 10); };
    const std::vector<row> rows = {
        {"full refresh, first (wall)", [&](auto& f) { return num(ms(f.cold.elapsed), "ms"); }},
        {"full refresh, again (wall)", [&](auto& f) { return num(ms(f.warm.elapsed), "ms"); }},
        {"full refresh, again (sum of batches)",
         [&](auto& f) { return num(ms(f.warm.busy), "ms"); }},
        {"full refresh, again (CPU)", [&](auto& f) { return num(f.warm_cpu_ms, "ms"); }},
        {"  per container (CPU)",
         [&](auto& f) {
             auto n = std::max<std::size_t>(1, f.warm.containers);
             return num(f.warm_cpu_ms * 1000 / static_cast<double>(n), "us");
         }},
        {"  batches", [&](auto& f) { return std::to_string(f.warm.batches); }},
        {"longest batch, refresh (wall)",
         [&](auto& f) {
             return stall(std::max(ms(f.cold.longest_batch), ms(f.warm.longest_batch)));
         },
         "<= 10 ms"},
        {"longest batch, refresh (CPU)",
         [&](auto& f) {
             return num(std::max(ms(f.cold.longest_batch_cpu), ms(f.warm.longest_batch_cpu)), "ms");
         }},
        {"scrape, median of 7 (wall)",
         [&](auto& f) {
             return num(f.scrape_ms_median, "ms") + " " + verdict(f.scrape_ms_max <= 250);
         },
         "<= 250 ms"},
        {"scrape, max of 7 (wall)", [&](auto& f) { return num(f.scrape_ms_max, "ms"); }},
        {"scrape, median of 7 (CPU)", [&](auto& f) { return num(f.scrape_cpu_ms_median, "ms"); }},
        {"bytes per scrape", [&](auto& f) { return std::to_string(f.scrape_bytes); }},
        {"series per scrape", [&](auto& f) { return std::to_string(f.series); }},
        {"refresh+scrape: longest batch (wall)",
         [&](auto& f) { return num(f.mixed_longest_batch_ms, "ms"); }},
        {"refresh+scrape: longest batch (CPU)",
         [&](auto& f) { return num(f.mixed_longest_batch_cpu_ms, "ms"); }},
        {"refresh+scrape: the scrape (wall)",
         [&](auto& f) { return num(f.mixed_scrape_ms, "ms"); }},
        {"refresh+scrape: longest loop stall (wall)",
         [&](auto& f) { return stall(std::max(f.mixed_longest_batch_ms, f.mixed_scrape_ms)); },
         "<= 10 ms"},
        {"refresh+scrape: 1 ms probe timer, worst late",
         [&](auto& f) { return num(f.probe_late_max_ms, "ms"); }},
    };
    std::printf("\n%-46s", "");
    for (const auto& [kind, f] : results) {
        std::printf(" %18s", kind == "fake" ? "fake (tmpfs)" : "cgroup2 leaves");
    }
    std::printf("   goal\n");
    for (const row& r : rows) {
        std::printf("%-46s", r.name);
        for (const auto& [kind, f] : results) {
            std::printf(" %18s", r.value(f).c_str());
        }
        std::printf("   %s\n", r.goal);
    }
    if (opt.compare && !results.empty()) {
        std::size_t bytes = 0;
        double t = serializer_ms(results.front().second.series, bytes);
        std::printf("\nthe route not taken: %zu series through prometheus-cpp TextSerializer "
                    "(build + serialize): %.1f ms, %zu bytes, in one loop turn\n",
                    results.front().second.series, t, bytes);
    }
    std::printf("\nload average at the end: %s. Wall figures include the time the loop thread "
                "waited for a CPU;\nCPU figures are its own work (CLOCK_THREAD_CPUTIME_ID).\n",
                load_average().c_str());
    std::printf("\nfake (tmpfs): plain directories on /dev/shm with all six statistics files "
                "(as with every controller enabled);\ncgroup2 leaves: real empty leaves on "
                "this host's cgroup2 hierarchy (%s), where only cpu.stat exists.\n",
                ::geteuid() == 0 ? "root" : "not run: needs root");
    return 0;
}
