// Metrics benchmark: N containers' cgroup statistics refreshed by the collector on one loop
// and scraped over HTTP on 127.0.0.1 through engine/http_server, from a scraper thread (as
// Prometheus would be another process). Prints, per kind of cgroup directory:
//   - the full refresh and its longest batch (the longest the collector holds the loop), with
//     the former batch budget (2 ms) as the baseline;
//   - registry::scrape() called directly (the body in one call): time, bytes, series;
//   - GET /metrics over HTTP, "before" (the whole body built in the handler's one turn, a body
//     per request, written in one go) against "now" (the endpoint: pieces across loop turns,
//     one shared body, bounded writes): latency from the request to the last byte, the longest
//     loop turn (CPU), the lateness of a 1 ms probe timer (the loop's worst stall), with one
//     scraper, with K scrapers at once (bodies built, peak RSS growth, loop CPU), and with one
//     scrape in the middle of a refresh;
// against the goals (scrape <= 250 ms, no loop stall over 10 ms at 10,000 containers; a turn
// <= 5 ms of CPU here).
//
//   bench_metrics_scrape [--containers N] [--services S] [--batch-size B]
//                        [--batch-budget-us U] [--piece-budget-us P] [--scrapers K] [--fds F]
//                        [--kind fake|cgroup|both] [--no-compare]
//
// Kinds: "fake" = plain directories on tmpfs (/dev/shm) holding all six statistics files, as
// if every controller were enabled (tmpfs reads are cheaper than cgroupfs's generated ones);
// "cgroup" = real, empty cgroup2 leaves (root only), which on a hierarchy without controllers
// hold cpu.stat alone, so the other five reads fail fast with ENOENT. Both are removed at the
// end. --fds opens that many extra descriptors first, as the supervisor holds ~2 per
// container (pidfd, output pipe), so that berth_process_open_fds costs what it would. K is at
// most 64 (http::limits::max_connections). The comparison row serializes the same number of
// series through prometheus-cpp's TextSerializer, the route not taken.
#include "engine/cgroup.hpp"
#include "engine/log.hpp"
#include "metrics/collector.hpp"
#include "metrics/endpoint.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;
using namespace berth;

namespace {

struct options {
    int containers = 10000;
    int services = 100;
    std::size_t batch_size = metrics::collector_options{}.batch_size;
    long batch_budget_us = 0; // 0: the collector's default
    long piece_budget_us = 0; // 0: the endpoint's default
    int scrapers = 64;        // at once, in the concurrent rounds
    int fds = -1;             // default: 2 per container
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

// A 1 ms timer that records how late it fires: what any other completion on the loop sees.
class probe {
public:
    explicit probe(boost::asio::io_context& io) : timer_(io) {}
    void start() {
        active_ = true;
        worst_ms_ = 0;
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

// ---- the scraper: another thread, blocking sockets, as Prometheus would be another process --

// One round of `scrapers` GET /metrics at once over loopback, each on its own connection.
struct round_result {
    std::vector<double> latency_ms; // per scraper: the request sent to the last byte received
    std::size_t body_bytes = 0;     // of the first scraper
    double rss_growth_mb = 0;       // peak resident memory of the process over the round, less
                                    // the resident memory at its start
    std::string error;
};

double status_kb(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field, 0) == 0) {
            return std::strtod(line.c_str() + std::strlen(field), nullptr);
        }
    }
    return 0;
}

// Resets the process's peak RSS to its current RSS (clear_refs "5", Linux 4.0).
void reset_peak_rss() {
    std::ofstream("/proc/self/clear_refs") << "5";
}

struct reader {
    int fd = -1;
    clk::time_point sent;
    std::string header;
    std::optional<std::size_t> length;
    std::size_t body = 0;
    bool done = false;
};

// Reads what `r` has; false on an error (in `error`). Only the header is kept: the body is
// counted, not stored.
bool read_some(reader& r, std::vector<char>& buf, std::string& error) {
    ssize_t n = ::read(r.fd, buf.data(), buf.size());
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return true;
        }
        error = std::string("read: ") + std::strerror(errno);
        return false;
    }
    if (n == 0) {
        error = "the server closed before the whole body";
        return false;
    }
    if (r.length) {
        r.body += static_cast<std::size_t>(n);
        return true;
    }
    r.header.append(buf.data(), static_cast<std::size_t>(n));
    std::size_t end = r.header.find("\r\n\r\n");
    if (end == std::string::npos) {
        return true;
    }
    if (r.header.rfind("HTTP/1.1 200", 0) != 0) {
        error = "answer: " + r.header.substr(0, r.header.find('\r'));
        return false;
    }
    std::string lower = r.header.substr(0, end);
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    std::size_t at = lower.find("content-length:");
    if (at == std::string::npos) {
        error = "no Content-Length";
        return false;
    }
    r.length = std::strtoull(lower.c_str() + at + 15, nullptr, 10);
    r.body = r.header.size() - (end + 4);
    return true;
}

round_result scrape_round(std::uint16_t port, int scrapers) {
    round_result out;
    std::vector<reader> readers(static_cast<std::size_t>(scrapers));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (auto& r : readers) {
        r.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (r.fd < 0 || ::connect(r.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            out.error = std::string("connect: ") + std::strerror(errno);
        }
    }
    reset_peak_rss();
    double rss_before = status_kb("VmRSS:");
    static const std::string request =
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    for (auto& r : readers) {
        r.sent = clk::now();
        if (out.error.empty() && ::send(r.fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
            out.error = std::string("send: ") + std::strerror(errno);
        }
        ::fcntl(r.fd, F_SETFL, O_NONBLOCK);
    }
    std::vector<char> buf(256 << 10);
    auto deadline = clk::now() + std::chrono::seconds(60);
    std::size_t left = out.error.empty() ? readers.size() : 0;
    while (left > 0 && out.error.empty()) {
        std::vector<pollfd> fds;
        std::vector<reader*> who;
        for (auto& r : readers) {
            if (!r.done) {
                fds.push_back({r.fd, POLLIN, 0});
                who.push_back(&r);
            }
        }
        if (clk::now() > deadline) {
            out.error = "no complete answer within 60 s";
            break;
        }
        if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) {
            out.error = std::string("poll: ") + std::strerror(errno);
            break;
        }
        for (std::size_t i = 0; i < fds.size() && out.error.empty(); ++i) {
            reader& r = *who[i];
            if (fds[i].revents == 0 || !read_some(r, buf, out.error)) {
                continue;
            }
            if (r.length && r.body >= *r.length) {
                r.done = true;
                out.latency_ms.push_back(ms(clk::now() - r.sent));
                --left;
            }
        }
    }
    out.rss_growth_mb = (status_kb("VmHWM:") - rss_before) / 1024;
    out.body_bytes = readers.front().length.value_or(0);
    for (auto& r : readers) {
        ::close(r.fd);
    }
    return out;
}

// ---- the loop side ------------------------------------------------------------------------

// What the loop thread did while the scraper ran.
struct loop_figures {
    double longest_turn_cpu_ms = 0; // the most CPU time one completion handler (turn) used
    double longest_turn_ms = 0;     // the longest run_one() (wall; includes up to the probe's
                                    // 1 ms of waiting for the next completion)
    double cpu_ms = 0;              // the loop thread's CPU time in all
    double probe_late_ms = 0;       // the 1 ms probe timer's worst lateness (wall)
};

// Runs the loop on this thread until `finished()`, with the probe running, timing each turn.
// run_one() as the supervisor's loop runs it: Boost 1.81's io_uring backend can sleep through a
// timer for the whole of run_one_for's timeout (a 1 ms timer fired 5 ms late under
// run_one_for(5 ms), 0.3 ms under run_one() here), which would be the benchmark's own stall.
// The probe wakes the loop every millisecond, so `finished()` is looked at often enough.
loop_figures drive(boost::asio::io_context& io, const std::function<bool()>& finished) {
    loop_figures out;
    probe p(io);
    io.restart();
    p.start();
    double c_start = thread_cpu_ms();
    while (!finished()) {
        double c0 = thread_cpu_ms();
        auto t0 = clk::now();
        if (io.run_one() == 0) {
            break; // stopped, or out of work: cannot happen while the probe runs
        }
        out.longest_turn_cpu_ms = std::max(out.longest_turn_cpu_ms, thread_cpu_ms() - c0);
        out.longest_turn_ms = std::max(out.longest_turn_ms, ms(clk::now() - t0));
    }
    out.cpu_ms = thread_cpu_ms() - c_start;
    out.probe_late_ms = p.worst_ms();
    p.stop();
    io.poll(); // the probe's cancelled wait, and whatever else is ready
    return out;
}

// `rounds` rounds of `scrapers` at once against the server on `port`, from a scraper thread;
// between two rounds the loop closes the previous round's connections.
struct http_figures {
    std::vector<double> latency_ms; // every scraper of every round
    std::size_t body_bytes = 0;
    double rss_growth_mb = 0; // the most of any round
    loop_figures loop;
    std::string error;
};

http_figures scrape_over_http(boost::asio::io_context& io, const http::server& srv, int scrapers,
                              int rounds) {
    http_figures out;
    std::atomic<bool> done{false};
    std::atomic<std::size_t> open{srv.connections()};
    std::thread scraper([&] {
        for (int i = 0; i < rounds && out.error.empty(); ++i) {
            for (int wait = 0; open.load() > 0 && wait < 5000; ++wait) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            round_result r = scrape_round(srv.local_port(), scrapers);
            out.error = r.error;
            out.latency_ms.insert(out.latency_ms.end(), r.latency_ms.begin(), r.latency_ms.end());
            out.body_bytes = r.body_bytes;
            out.rss_growth_mb = std::max(out.rss_growth_mb, r.rss_growth_mb);
        }
        done = true;
    });
    out.loop = drive(io, [&] {
        open = srv.connections();
        return done.load();
    });
    scraper.join();
    drive(io, [&] { return srv.connections() == 0; }); // the last round's connections close
    return out;
}

double median(std::vector<double> v) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double largest(const std::vector<double>& v) {
    return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

// ---- one kind of cgroup directory ---------------------------------------------------------

// A scrape path under test: the server, and how many bodies it built.
struct path_under_test {
    http::server* srv;
    std::function<std::uint64_t()> builds;
};

// The figures of one path over HTTP: one scraper a round, many scrapers at once, and one
// scrape in the middle of a refresh.
struct path_figures {
    http_figures single;
    http_figures many;
    double many_builds_per_round = 0;
    http_figures midway;
};

struct run_figures {
    metrics::refresh_report cold;
    metrics::refresh_report warm;
    double warm_cpu_ms = 0;
    metrics::refresh_report before_budget; // the former defaults: batches of 64 within 2 ms
    double direct_ms_median = 0;
    double direct_ms_max = 0;
    double direct_cpu_ms_median = 0;
    std::size_t scrape_bytes = 0;
    std::size_t series = 0;
    path_figures before; // one turn per scrape, a body per scrape (registry::scrape)
    path_figures now;    // the endpoint: pieces, one shared body
    metrics::scrape_stats now_stats;
    std::string error;
};

// Two refreshes: the first renders every container for the first time.
void measure_refresh(boost::asio::io_context& io, metrics::collector& coll, run_figures& out) {
    for (auto* report : {&out.cold, &out.warm}) {
        double c0 = thread_cpu_ms();
        coll.refresh();
        io.restart();
        io.run();
        *report = coll.last_report();
        out.warm_cpu_ms = thread_cpu_ms() - c0;
    }
}

void measure_former_batches(boost::asio::io_context& io, metrics::registry& reg,
                            std::size_t batch_size, run_figures& out) {
    metrics::collector_options former;
    former.batch_size = batch_size;
    former.batch_budget = std::chrono::microseconds(2000);
    metrics::collector coll(io, reg, former);
    coll.refresh();
    io.restart();
    io.run();
    out.before_budget = coll.last_report();
}

void measure_direct(metrics::registry& reg, run_figures& out) {
    std::vector<double> wall;
    std::vector<double> cpu;
    for (int i = 0; i < 7; ++i) {
        auto t0 = clk::now();
        double c0 = thread_cpu_ms();
        std::string body = reg.scrape();
        cpu.push_back(thread_cpu_ms() - c0);
        wall.push_back(ms(clk::now() - t0));
        out.scrape_bytes = body.size();
        if (i == 0) {
            out.series = count_series(body);
        }
    }
    out.direct_ms_median = median(wall);
    out.direct_ms_max = largest(wall);
    out.direct_cpu_ms_median = median(cpu);
}

// A refresh with one scrape over HTTP halfway through, the probe running all along.
http_figures scrape_during_refresh(boost::asio::io_context& io, metrics::collector& coll,
                                   const http::server& srv, clk::duration refresh_takes) {
    http_figures out;
    std::atomic<bool> go{false};
    std::atomic<bool> scraped{false};
    bool refreshed = false;
    std::thread scraper([&] {
        while (!go.load()) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        round_result r = scrape_round(srv.local_port(), 1);
        out.error = r.error;
        out.latency_ms = r.latency_ms;
        out.body_bytes = r.body_bytes;
        scraped = true;
    });
    boost::asio::steady_timer half(io);
    half.expires_after(refresh_takes / 2);
    half.async_wait([&](const boost::system::error_code&) { go = true; });
    coll.refresh([&] { refreshed = true; });
    out.loop = drive(io, [&] { return refreshed && scraped.load(); });
    scraper.join();
    drive(io, [&] { return srv.connections() == 0; });
    return out;
}

path_figures measure_path(boost::asio::io_context& io, metrics::collector& coll,
                          const path_under_test& path, const options& opt) {
    path_figures out;
    out.single = scrape_over_http(io, *path.srv, 1, 7);
    std::uint64_t builds = path.builds();
    const int rounds = 3;
    out.many = scrape_over_http(io, *path.srv, opt.scrapers, rounds);
    out.many_builds_per_round = static_cast<double>(path.builds() - builds) / rounds;
    out.midway = scrape_during_refresh(io, coll, *path.srv, coll.last_report().elapsed);
    return out;
}

std::string first_error(const path_figures& p) {
    for (const auto* h : {&p.single, &p.many, &p.midway}) {
        if (!h->error.empty()) {
            return h->error;
        }
    }
    return {};
}

// The fleet of one kind: `opt.containers` leaves in services of equal size, announced to `reg`.
bool populate(tree& dirs, bool cgroupfs, const options& opt, metrics::registry& reg) {
    int per_service = std::max(1, opt.containers / std::max(1, opt.services));
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
    return true;
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
    auto setup_start = clk::now();
    if (!populate(dirs, cgroupfs, opt, reg)) {
        return false;
    }
    std::printf("  %s: %d containers set up in %.0f ms\n", kind.c_str(), opt.containers,
                ms(clk::now() - setup_start));

    boost::asio::io_context io;
    metrics::collector_options co;
    co.batch_size = opt.batch_size;
    if (opt.batch_budget_us > 0) {
        co.batch_budget = std::chrono::microseconds(opt.batch_budget_us);
    }
    metrics::collector coll(io, reg, co);
    measure_refresh(io, coll, out);
    measure_former_batches(io, reg, opt.batch_size, out);
    measure_direct(reg, out);

    // The path before: the whole body in the handler's turn, one body per request, written
    // in one go (no max_write_bytes); and the endpoint's: pieces, one shared body.
    metrics::scrape_options so;
    if (opt.piece_budget_us > 0) {
        so.piece_budget = std::chrono::microseconds(opt.piece_budget_us);
    }
    metrics::endpoint ep(reg, &coll, so);
    std::uint64_t before_builds = 0;
    http::handler whole = [&](const http::request& req) {
        ++before_builds;
        return ep(req);
    };
    http::limits one_go;
    one_go.max_write_bytes = std::numeric_limits<std::size_t>::max();
    auto before_srv = http::server::listen_tcp(io, "127.0.0.1", 0, whole, one_go);
    auto now_srv = http::server::listen_tcp(io, "127.0.0.1", 0, ep.handler());
    if (!before_srv || !now_srv) {
        std::fprintf(stderr, "listen: %s\n",
                     (before_srv ? now_srv.error() : before_srv.error()).message().c_str());
        return false;
    }
    out.before = measure_path(io, coll, {before_srv->get(), [&] { return before_builds; }}, opt);
    out.now = measure_path(io, coll,
                           {now_srv->get(), [&] { return ep.scrape_statistics().builds; }}, opt);
    out.now_stats = ep.scrape_statistics();
    out.error = first_error(out.before);
    if (out.error.empty()) {
        out.error = first_error(out.now);
    }
    return true;
}
// ---- the table -------------------------------------------------------------------------------

std::string num(double v, const char* unit) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f %s", v, unit);
    return std::string(buf);
}

using figure = std::function<std::string(const run_figures&)>;

struct row {
    std::string name;
    figure value;
    std::string goal = "";
};

// A heading row: no figures.
row heading(std::string name) {
    return {std::move(name), nullptr};
}

std::string goal_verdict(double v, double limit, const char* unit) {
    return num(v, unit) + " " + verdict(v <= limit);
}

std::vector<row> collection_rows() {
    auto longest = [](const metrics::refresh_report& r) { return ms(r.longest_batch); };
    return {
        heading("collection: every container's cgroup files read once"),
        {"full refresh, first (wall)", [](auto& f) { return num(ms(f.cold.elapsed), "ms"); }},
        {"full refresh, again (wall)", [](auto& f) { return num(ms(f.warm.elapsed), "ms"); }},
        {"full refresh, again (sum of batches)",
         [](auto& f) { return num(ms(f.warm.busy), "ms"); }},
        {"full refresh, again (CPU)", [](auto& f) { return num(f.warm_cpu_ms, "ms"); }},
        {"  per container (CPU)",
         [](auto& f) {
             auto n = std::max<std::size_t>(1, f.warm.containers);
             return num(f.warm_cpu_ms * 1000 / static_cast<double>(n), "us");
         }},
        {"  batches", [](auto& f) { return std::to_string(f.warm.batches); }},
        {"longest batch, before: 2 ms budget (wall)",
         [=](auto& f) { return num(longest(f.before_budget), "ms"); }},
        {"longest batch, before: 2 ms budget (CPU)",
         [](auto& f) { return num(ms(f.before_budget.longest_batch_cpu), "ms"); }},
        {"longest batch, now, first refresh (wall)",
         [=](auto& f) { return goal_verdict(longest(f.cold), 10, "ms"); }, "<= 10 ms"},
        {"longest batch, now, again (wall)",
         [=](auto& f) { return goal_verdict(longest(f.warm), 10, "ms"); }, "<= 10 ms"},
        {"longest batch, now (CPU)",
         [](auto& f) {
             return goal_verdict(
                 std::max(ms(f.cold.longest_batch_cpu), ms(f.warm.longest_batch_cpu)), 5, "ms");
         },
         "<= 5 ms"},
    };
}

std::vector<row> direct_rows() {
    return {
        heading("registry::scrape(), the whole body in one call (no HTTP)"),
        {"one call, median of 7 (wall)", [](auto& f) { return num(f.direct_ms_median, "ms"); }},
        {"one call, max of 7 (wall)", [](auto& f) { return num(f.direct_ms_max, "ms"); }},
        {"one call, median of 7 (CPU)", [](auto& f) { return num(f.direct_cpu_ms_median, "ms"); }},
        {"bytes per scrape", [](auto& f) { return std::to_string(f.scrape_bytes); }},
        {"series per scrape", [](auto& f) { return std::to_string(f.series); }},
    };
}

// Rows of one HTTP figure, before and now; `goal` applies to now.
void pair_rows(std::vector<row>& rows, const std::string& name,
               std::function<double(const path_figures&)> get, const char* unit, double limit = 0,
               const char* goal = "") {
    rows.push_back({"  before: " + name, [=](auto& f) { return num(get(f.before), unit); }});
    rows.push_back({"  now:    " + name,
                    [=](auto& f) {
                        double v = get(f.now);
                        return limit > 0 ? goal_verdict(v, limit, unit) : num(v, unit);
                    },
                    goal});
}

std::vector<row> http_rows(const options& opt) {
    std::vector<row> rows;
    rows.push_back(heading("GET /metrics over HTTP on 127.0.0.1, one scraper, 7 rounds"));
    pair_rows(
        rows, "request to last byte, median",
        [](const path_figures& p) { return median(p.single.latency_ms); }, "ms", 250, "<= 250 ms");
    pair_rows(
        rows, "request to last byte, max",
        [](const path_figures& p) { return largest(p.single.latency_ms); }, "ms", 250, "<= 250 ms");
    pair_rows(
        rows, "longest loop turn (CPU)",
        [](const path_figures& p) { return p.single.loop.longest_turn_cpu_ms; }, "ms", 5,
        "<= 5 ms");
    pair_rows(
        rows, "1 ms probe timer, worst late",
        [](const path_figures& p) { return p.single.loop.probe_late_ms; }, "ms", 10, "<= 10 ms");
    pair_rows(
        rows, "loop CPU per scrape", [](const path_figures& p) { return p.single.loop.cpu_ms / 7; },
        "ms");
    rows.push_back({"  now:    bytes per scrape",
                    [](auto& f) { return std::to_string(f.now.single.body_bytes); }});
    rows.push_back({"  now:    pieces (loop turns) of the last body",
                    [](auto& f) { return std::to_string(f.now_stats.last_pieces); }});
    rows.push_back({"  now:    its build, first piece to last (wall)",
                    [](auto& f) { return num(ms(f.now_stats.last_build), "ms"); }});
    rows.push_back({"  now:    longest piece (wall)",
                    [](auto& f) { return num(ms(f.now_stats.longest_piece), "ms"); }});
    rows.push_back({"  now:    longest piece (CPU)",
                    [](auto& f) { return num(ms(f.now_stats.longest_piece_cpu), "ms"); }});

    rows.push_back(
        heading("the same, " + std::to_string(opt.scrapers) + " scrapers at once, 3 rounds"));
    pair_rows(
        rows, "request to last byte, max",
        [](const path_figures& p) { return largest(p.many.latency_ms); }, "ms");
    pair_rows(
        rows, "request to last byte, median",
        [](const path_figures& p) { return median(p.many.latency_ms); }, "ms");
    pair_rows(
        rows, "bodies built per round",
        [](const path_figures& p) { return p.many_builds_per_round; }, "");
    pair_rows(
        rows, "peak RSS growth in a round",
        [](const path_figures& p) { return p.many.rss_growth_mb; }, "MB");
    pair_rows(
        rows, "loop CPU per round", [](const path_figures& p) { return p.many.loop.cpu_ms / 3; },
        "ms");
    pair_rows(
        rows, "longest loop turn (CPU)",
        [](const path_figures& p) { return p.many.loop.longest_turn_cpu_ms; }, "ms", 5, "<= 5 ms");
    pair_rows(
        rows, "longest loop turn (wall)",
        [](const path_figures& p) { return p.many.loop.longest_turn_ms; }, "ms");
    pair_rows(
        rows, "1 ms probe timer, worst late",
        [](const path_figures& p) { return p.many.loop.probe_late_ms; }, "ms", 10, "<= 10 ms");

    rows.push_back(heading("a refresh with one scrape over HTTP halfway through"));
    pair_rows(
        rows, "the scrape, request to last byte",
        [](const path_figures& p) { return largest(p.midway.latency_ms); }, "ms", 250, "<= 250 ms");
    pair_rows(
        rows, "longest loop turn (CPU)",
        [](const path_figures& p) { return p.midway.loop.longest_turn_cpu_ms; }, "ms", 5,
        "<= 5 ms");
    pair_rows(
        rows, "1 ms probe timer, worst late (stall)",
        [](const path_figures& p) { return p.midway.loop.probe_late_ms; }, "ms", 10, "<= 10 ms");
    return rows;
}

void print_table(const std::vector<std::pair<std::string, run_figures>>& results,
                 const options& opt) {
    std::vector<row> rows = collection_rows();
    for (auto more : {direct_rows(), http_rows(opt)}) {
        rows.insert(rows.end(), more.begin(), more.end());
    }

    std::printf("\n%-52s", "");
    for (const auto& [kind, f] : results) {
        std::printf(" %18s", kind == "fake" ? "fake (tmpfs)" : "cgroup2 leaves");
    }
    std::printf("   goal\n");
    for (const row& r : rows) {
        if (!r.value) {
            std::printf("%s\n", r.name.c_str());
            continue;
        }
        std::printf("%-52s", r.name.c_str());
        for (const auto& [kind, f] : results) {
            std::printf(" %18s", r.value(f).c_str());
        }
        std::printf("   %s\n", r.goal.c_str());
    }
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
        } else if (a == "--batch-budget-us") {
            opt.batch_budget_us = std::stol(next());
        } else if (a == "--piece-budget-us") {
            opt.piece_budget_us = std::stol(next());
        } else if (a == "--scrapers") {
            opt.scrapers = std::clamp(std::stoi(next()), 1, 64);
        } else if (a == "--fds") {
            opt.fds = std::stoi(next());
        } else if (a == "--kind") {
            opt.kind = next();
        } else if (a == "--no-compare") {
            opt.compare = false;
        } else {
            std::fprintf(stderr,
                         "usage: %s [--containers N] [--services S] [--batch-size B] "
                         "[--batch-budget-us U] [--piece-budget-us P] [--scrapers K] [--fds F] "
                         "[--kind fake|cgroup|both] [--no-compare]\n",
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

    metrics::collector_options defaults;
    long budget_us = opt.batch_budget_us > 0 ? opt.batch_budget_us
                                             : static_cast<long>(defaults.batch_budget.count());
    std::printf("metrics scrape benchmark: %d containers in %d services, batches of %zu within "
                "%ld us, %d scrapers at once, %d extra fds open, load average %s\n",
                opt.containers, opt.services, opt.batch_size, budget_us, opt.scrapers, opt.fds,
                load_average().c_str());
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
        if (!f.error.empty()) {
            std::fprintf(stderr, "%s: scrape over HTTP: %s\n", kind.c_str(), f.error.c_str());
            return 1;
        }
        results.emplace_back(kind, f);
    }
    print_table(results, opt);
    if (opt.compare && !results.empty()) {
        std::size_t bytes = 0;
        double t = serializer_ms(results.front().second.series, bytes);
        std::printf("\nthe route not taken: %zu series through prometheus-cpp TextSerializer "
                    "(build + serialize): %.1f ms, %zu bytes, in one loop turn\n",
                    results.front().second.series, t, bytes);
    }
    std::printf("\nload average at the end: %s. Wall figures include the time the loop thread "
                "waited for a CPU (the scraper thread\nand other processes share this machine's "
                "CPUs); CPU figures are its own work (CLOCK_THREAD_CPUTIME_ID).\n",
                load_average().c_str());
    long piece_us = opt.piece_budget_us > 0
                        ? opt.piece_budget_us
                        : static_cast<long>(metrics::scrape_options{}.piece_budget.count());
    std::printf("\nbefore: the whole body built in the handler's one turn, a body per request, "
                "written in one go;\nnow: the endpoint (metrics/scrape.hpp): pieces of %ld us "
                "on the loop, one body shared, the writes in flight sharing %zu KiB a round.\n",
                piece_us, http::limits{}.max_write_bytes >> 10);
    std::printf("\nfake (tmpfs): plain directories on /dev/shm with all six statistics files "
                "(as with every controller enabled);\ncgroup2 leaves: real empty leaves on "
                "this host's cgroup2 hierarchy (%s), where only cpu.stat exists.\n",
                ::geteuid() == 0 ? "root" : "not run: needs root");
    return 0;
}
