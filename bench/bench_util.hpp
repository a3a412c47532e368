// Small helpers the benchmark programs share: wall and CPU clocks, resident memory, and dying
// with a message on a failed step.
#pragma once

#include "engine/result.hpp"

#include <sys/resource.h>

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
