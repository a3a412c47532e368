// Small helpers the benchmark programs share: wall and CPU clocks, resident memory, and dying
// with a message on a failed step.
#pragma once

#include "engine/result.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace berth::bench {

using clk = std::chrono::steady_clock;

inline double seconds_since(clk::time_point t) {
    return std::chrono::duration<double>(clk::now() - t).count();
}

// This process's user + system CPU time, in seconds.
inline double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU time the whole machine spent busy (every core, every process and kernel thread: user,
// nice, system, irq, softirq from /proc/stat's first line), in seconds; 0 when /proc says
// nothing. Its resolution is the clock tick (10 ms at USER_HZ 100).
inline double machine_busy_seconds() {
    std::ifstream in("/proc/stat");
    std::string cpu;
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
    if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq) ||
        cpu != "cpu") {
        return 0;
    }
    static const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return static_cast<double>(user + nice + system + irq + softirq) / tick;
}

// Waits until the machine has gone quiet: a 200 ms window in which all cores together were
// busy less than 5% of it, or `limit` seconds. The teardown of a round leaves deferred kernel
// work (namespace and superblock frees, RCU callbacks) that would otherwise be charged to
// whichever run comes next.
inline void wait_until_idle(double limit = 5.0) {
    static const double cores = static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN));
    auto start = clk::now();
    while (seconds_since(start) < limit) {
        double busy0 = machine_busy_seconds();
        auto t0 = clk::now();
        ::usleep(200 * 1000);
        double busy = (machine_busy_seconds() - busy0) / (seconds_since(t0) * cores);
        if (busy < 0.05) {
            return;
        }
    }
}

// This process's resident set (VmRSS), in kB; 0 when /proc says nothing.
inline long rss_kb() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return 0;
}

[[noreturn]] inline void die(const std::string& what) {
    std::fprintf(stderr, "bench: %s\n", what.c_str());
    std::exit(1);
}

template <typename T> T must(berth::result<T> r, const char* what) {
    if (!r) {
        die(std::string(what) + ": " + r.error().message());
    }
    return std::move(r).value();
}

inline void must(berth::status s, const char* what) {
    if (!s) {
        die(std::string(what) + ": " + s.error().message());
    }
}

} // namespace berth::bench
