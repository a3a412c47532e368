// cgroup v2: the supervisor's subtree, limits, statistics and the operations on one cgroup.
//
// Everything here speaks paths, numbers and controller names; nothing knows services or TOML.
// Every function takes the absolute path of a cgroup directory and returns a berth::result
// whose error reads "cgroup '<path>': <action>: <errno text>". These are small synchronous
// reads and writes of cgroupfs files, cheap enough to run on the event loop; only
// remove_tree() may wait, and only as long as its budget allows.
//
// Layout (docs/cgroups.md): <root>/init holds the supervisor itself, <root>/<service> each
// service, <root>/<service>/<replica> each container. Processes live only in leaves (init and
// replicas): a cgroup that enables controllers for its children in cgroup.subtree_control
// cannot hold processes ("no internal processes"; the hierarchy's own root is exempt).
//
// Start-up order on a host: tree::open, create_init, move_self_into(init_path()),
// enable_root_controllers, then create_service / create_replica as services start.
#pragma once

#include "engine/result.hpp"
#include "engine/unique_fd.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::cgroup {

// ---- locating the hierarchy ----------------------------------------------------------------

// The cgroup2 mount point from /proc/self/mountinfo: /sys/fs/cgroup on a pure v2 system,
// /sys/fs/cgroup/unified on a hybrid one; an error that says so when there is none.
result<std::string> mount_point();

// The default subtree root: the hierarchy's root for PID 1, "<mount>/berth" otherwise.
result<std::string> default_root(bool pid1);

// The cgroup directory a process is in (pid 0: the caller), from the "0::" line of
// /proc/<pid>/cgroup joined to the mount point. This is the root to use under a delegating
// manager (systemd Delegate=yes), which starts the supervisor in the subtree it delegates.
result<std::string> path_of_process(pid_t pid = 0);

// ---- files ----------------------------------------------------------------------------------

// The content of <dir>/<file>.
result<std::string> read_text(const std::string& dir, std::string_view file);

// The same, or nullopt when the file does not exist (its controller is not enabled here).
result<std::optional<std::string>> read_text_if_present(const std::string& dir,
                                                        std::string_view file);

// Writes `value` to <dir>/<file> in one write(2), as cgroupfs requires. The file must exist
// (no O_CREAT): in cgroupfs the kernel made it, in a test directory the test did.
status write_text(const std::string& dir, std::string_view file, std::string_view value);

// ---- controllers ----------------------------------------------------------------------------

// The default set a tree enables where offered: cpu, cpuset, io, memory, pids.
std::vector<std::string> default_controllers();

// <dir>/cgroup.controllers: the controllers this cgroup may use (for a non-root cgroup: what
// its parent enables in cgroup.subtree_control), and may in turn enable for its children.
result<std::vector<std::string>> read_controllers(const std::string& dir);

// <dir>/cgroup.subtree_control: the controllers enabled for the children of `dir`.
result<std::vector<std::string>> read_subtree_control(const std::string& dir);

// Enables, for the children of `dir`, each controller of `wanted` that `dir` offers
// (cgroup.controllers), one "+name" write each; returns the ones now enabled. Controllers not
// offered are left out here; a limit that needs one fails in apply_limits with its name.
// EBUSY means processes sit in `dir` itself, which the no-internal-process rule forbids.
result<std::vector<std::string>> enable_controllers(const std::string& dir,
                                                    const std::vector<std::string>& wanted);

// ---- processes ------------------------------------------------------------------------------

// Opens a cgroup directory as O_PATH|O_DIRECTORY|O_CLOEXEC for clone3(CLONE_INTO_CGROUP,
// Linux 5.7), which accepts O_PATH descriptors. Keep it open until clone3 returns. The target
// must be a leaf (no controllers in its cgroup.subtree_control), or clone3 fails with EBUSY.
result<unique_fd> open_dir(const std::string& dir);

// Moves a whole process (thread group) into `dir` by writing its pid to cgroup.procs.
status move_process(const std::string& dir, pid_t pid);

// Moves the calling process into `dir` (writes "0" to cgroup.procs). Used once at start for
// <root>/init, so that the root itself may then enable controllers.
status move_self_into(const std::string& dir);

// ---- limits ---------------------------------------------------------------------------------

// The value that writes "max" (no limit) into memory.max, memory.high, memory.swap.max and
// pids.max.
inline constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();

// cpu.max: at most quota_us of CPU time every period_us (both µs). No quota writes "max".
struct cpu_quota {
    std::optional<std::uint64_t> quota_us; // >= 1000; nullopt: "max"
    std::uint64_t period_us = 100000;      // 1000 .. 1000000
};

// Limits in kernel terms; unset fields are not written (the kernel default stays).
struct limits {
    std::optional<std::uint64_t> memory_max;      // bytes, or unlimited -> memory.max
    std::optional<std::uint64_t> memory_high;     // bytes, or unlimited -> memory.high
    std::optional<std::uint64_t> memory_swap_max; // bytes, or unlimited -> memory.swap.max
    std::optional<std::uint64_t> pids_max;        // count, or unlimited -> pids.max
    std::optional<cpu_quota> cpu_max;             // -> cpu.max "quota period" / "max period"
    std::optional<std::uint32_t> cpu_weight;      // 1 .. 10000 -> cpu.weight
    std::optional<std::uint32_t> io_weight;       // 1 .. 10000 -> io.weight / io.bfq.weight
    std::optional<std::string> cpuset_cpus;       // "0-3,6" -> cpuset.cpus
};

// The controllers `l` needs, sorted, without duplicates.
std::vector<std::string> controllers_needed(const limits& l);

// Writes every set limit into `dir`. First checks all values and that every needed controller
// is in <dir>/cgroup.controllers; a missing one is an error naming the limit and the
// controller, before anything is written:
//   cgroup '/sys/fs/cgroup/unified/berth/web': limit memory_max needs the memory controller,
//   which this cgroup2 hierarchy does not offer
// (or "..., which '<parent>' does not enable in cgroup.subtree_control" when the parent has
// it but did not pass it on). Never a silent no-op. io_weight writes "default N" into
// io.weight (iocost) and N mapped onto 1..1000 into io.bfq.weight (BFQ), each that exists; a
// device uses at most one of the two. Not transactional: a write the kernel refuses leaves
// the earlier ones in place, so a failed cgroup should be removed, not reused.
status apply_limits(const std::string& dir, const limits& l);

// The io.bfq.weight value for a cgroup v2 weight: 1..100 -> 1..100, 100..10000 -> 100..1000,
// linear in both halves, so that the default 100 stays 100.
std::uint32_t bfq_weight_for(std::uint32_t io_weight);

// ---- state and operations -------------------------------------------------------------------

// cgroup.events.
struct events {
    bool populated = false; // a process is in this cgroup or below
    bool frozen = false;    // the freeze requested by freeze() has taken effect
};
result<events> parse_events(std::string_view text);
result<events> read_events(const std::string& dir);

// Opens <dir>/<file> (cgroup.events, memory.events, ...) for polling. The kernel signals a
// change with POLLPRI|POLLERR (kernfs_notify); POLLIN is always set, so wait for POLLPRI
// (io_uring POLL_ADD with POLLPRI, asio wait_error), never for POLLIN. Notifications are
// rate-limited to about one per 10 ms per file. After a wakeup, read with read_events(fd) or
// read_text_at(fd): reading from offset 0 returns the new state and rearms the notification.
// Once the cgroup is removed the descriptor polls POLLPRI|POLLERR for good: stop polling it.
result<unique_fd> open_events(const std::string& dir, std::string_view file = "cgroup.events");

// The whole content of an open cgroup file, read from offset 0 (pread).
result<std::string> read_text_at(int fd);
result<events> read_events(int fd);

// Asks the kernel to freeze / thaw every process in `dir` and below (cgroup.freeze, Linux
// 5.2). Freezing completes asynchronously: cgroup.events reports frozen 1 when it has.
status freeze(const std::string& dir);
status thaw(const std::string& dir);

// SIGKILLs every process in `dir` and below at once (cgroup.kill, Linux 5.14), frozen ones
// included. The processes are gone once cgroup.events reports populated 0.
status kill_all(const std::string& dir);

// rmdir of an empty cgroup (no processes, no children). A missing directory is success.
status remove(const std::string& dir);

// rmdir of a leaf whose owner has stopped. If processes are still in it (strays that outlived
// the main process without a pid namespace, or ones cgroup.kill has not finished off), they
// are SIGKILLed (cgroup.kill), and the rmdir waits for cgroup.events to say populated 0, for
// at most `budget`: EBUSY "processes still alive" after that. One rmdir when the leaf is empty.
status remove_leaf(const std::string& dir,
                   std::chrono::milliseconds budget = std::chrono::milliseconds(2000));

// Removes `dir` and everything below it, processes included, for leftovers of an earlier
// run: kill_all, wait for populated 0 on cgroup.events, then rmdir deepest first, retrying
// an EBUSY rmdir while the kernel finishes tearing the tasks down. Blocks the caller for at
// most `budget`, then fails with EBUSY. Refuses (EPERM) a subtree that holds the caller
// itself, and fails when it cannot tell where the caller is. A missing directory is success.
status remove_tree(const std::string& dir,
                   std::chrono::milliseconds budget = std::chrono::milliseconds(2000));

// ---- statistics (engine/cgroup_stats.cpp) ---------------------------------------------------
// Each read_* gives nullopt ("not available") when the file is absent because its controller
// is not enabled, and an error only when reading or parsing fails. All counters are
// hierarchical: they include the cgroups below `dir`.

// memory.events; keys the kernel does not print (older kernels) stay 0.
struct memory_events {
    std::uint64_t low = 0;
    std::uint64_t high = 0;
    std::uint64_t max = 0;
    std::uint64_t oom = 0;
    std::uint64_t oom_kill = 0;
    std::uint64_t oom_group_kill = 0; // Linux 5.17
};

// cpu.stat. The usage fields exist without the cpu controller; the throttling ones only with.
struct cpu_stat {
    std::uint64_t usage_usec = 0;
    std::uint64_t user_usec = 0;
    std::uint64_t system_usec = 0;
    std::optional<std::uint64_t> nr_periods;
    std::optional<std::uint64_t> nr_throttled;
    std::optional<std::uint64_t> throttled_usec;
};

// io.stat, summed over every device line.
struct io_stat {
    std::uint64_t rbytes = 0;
    std::uint64_t wbytes = 0;
    std::uint64_t rios = 0;
    std::uint64_t wios = 0;
};

result<std::uint64_t> parse_counter(std::string_view text); // "123\n"; "max" is an error
result<memory_events> parse_memory_events(std::string_view text);
result<cpu_stat> parse_cpu_stat(std::string_view text);
result<io_stat> parse_io_stat(std::string_view text);

result<std::optional<std::uint64_t>> read_memory_current(const std::string& dir);
result<std::optional<std::uint64_t>> read_memory_peak(const std::string& dir); // Linux 5.19
result<std::optional<memory_events>> read_memory_events(const std::string& dir);
result<memory_events> read_memory_events(int fd); // from open_events(dir, "memory.events")
result<std::optional<std::uint64_t>> read_pids_current(const std::string& dir);
result<std::optional<cpu_stat>> read_cpu_stat(const std::string& dir);
result<std::optional<io_stat>> read_io_stat(const std::string& dir);

// ---- the supervisor's subtree ---------------------------------------------------------------

// The subtree berth owns and its layout. A plain value: paths and controller names.
class tree {
public:
    // Opens the subtree root, creating it and its missing parents (mkdir -p), checks that it
    // is on a cgroup2 filesystem and reads the controllers it offers. `wanted` are the
    // controllers to enable down the tree wherever they are offered.
    static result<tree> open(std::string root,
                             std::vector<std::string> wanted = default_controllers());

    const std::string& root() const noexcept { return root_; }

    // <root>/cgroup.controllers as read by open(): what this subtree may use at all.
    const std::vector<std::string>& available() const noexcept { return available_; }

    std::string init_path() const;
    std::string service_path(std::string_view service) const;
    std::string replica_path(std::string_view service, std::string_view replica) const;

    // Creates the <root>/init leaf for the supervisor (then: move_self_into(init_path())).
    result<std::string> create_init() const;

    // Enables the wanted controllers the root offers in <root>/cgroup.subtree_control, so
    // services get them. Needs the root to hold no processes (see create_init), unless the
    // root is the hierarchy's own root.
    result<std::vector<std::string>> enable_root_controllers() const;

    // Creates <root>/<service> (an existing one is reused) and enables for its replicas the
    // wanted controllers it offers. "init" is reserved for the supervisor.
    result<std::string> create_service(std::string_view service) const;

    // Creates the leaf <root>/<service>/<replica> (an existing one is reused).
    result<std::string> create_replica(std::string_view service, std::string_view replica) const;

private:
    tree(std::string root, std::vector<std::string> wanted, std::vector<std::string> available)
        : root_(std::move(root)), wanted_(std::move(wanted)), available_(std::move(available)) {}

    std::string root_;
    std::vector<std::string> wanted_;
    std::vector<std::string> available_;
};

} // namespace berth::cgroup
