// Starting a program the way the supervisor starts berth-shim (clone3, fd 3 = status pipe,
// every signal blocked), for the host tests and the timing tool.
#pragma once

#include "shim/protocol.h"

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::test {

struct launch {
    std::string program;           // executed as is (no PATH search)
    std::vector<std::string> argv; // argv[0] included
    std::vector<std::string> env{"PATH=/bin"};
    bool new_pid_namespace = true;
    bool capture = true;    // stdout and stderr into pipes; false: both to /dev/null
    std::string leaked_dir; // when set: opened and left at fd 7 without close-on-exec
    // When set: the child first enters a private mount namespace and mounts a proc there, as
    // a supervisor whose namespace holds a second proc instance (the shim copies it).
    std::string extra_proc_at;
    int root_ns_fd = -1; // when set: placed at fd 4 (root_switch=template's namespace)
    std::chrono::seconds deadline{30};
};

struct outcome {
    int wait_status = 0;
    bool timed_out = false;
    double cpu_us = 0; // user + system time of the child and its reaped descendants
    std::optional<berth_shim_failure> failure; // the record read from the status pipe
    std::string out;
    std::string err;

    bool exited() const;
    int exit_code() const; // -1 unless exited()
    std::string step() const { return failure ? failure->step : ""; }
    int error() const { return failure ? failure->error : -1; }
};

// One started child. Ends it (SIGKILL by pid) and reaps it if finish() was not called.
class running {
public:
    // Throws std::system_error when a pipe, open or clone3 fails.
    static running start(const launch& what);
    running(running&& other) noexcept;
    running& operator=(running&&) = delete;
    ~running();

    pid_t pid() const { return pid_; }

    // Reads stdout (and drains stderr) until it contains text, end-of-file or the deadline.
    bool wait_for_output(std::string_view text);

    // Reads every pipe to end-of-file, then reaps the child. Past the deadline the child is
    // killed and timed_out is set.
    outcome finish();

private:
    running() = default;
    bool pump(int timeout_ms); // one poll round; false once every pipe is closed
    bool past_deadline() const;

    pid_t pid_ = -1;
    int out_fd_ = -1;
    int err_fd_ = -1;
    int status_fd_ = -1;
    std::string status_bytes_;
    std::chrono::steady_clock::time_point deadline_;
    outcome result_;
};

outcome run(const launch& what);

// "berth-shim" words: argv[0], the spec words, "--", the workload.
std::vector<std::string> shim_argv(const std::vector<std::string>& spec,
                                   const std::vector<std::string>& workload);

} // namespace berth::test
