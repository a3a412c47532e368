"""bench/fleet's shared pieces: /proc and cgroup readings, the time budget, and cleanup.

Every reading here is of one process or one cgroup by path or pid; nothing looks processes
up by name. Cleanup steps run in reverse order of registration, each at most once, and a
failing step is reported and does not stop the others.
"""

import os
import signal
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
T0 = time.monotonic()


def log(msg):
    """Progress on stderr, prefixed by the seconds since the benchmark started."""
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


class Budget:
    """The whole run's wall-time allowance; every phase asks it before it starts."""

    def __init__(self, total_s, cleanup_reserve_s):
        self.start = time.monotonic()
        self.total = total_s
        self.reserve = cleanup_reserve_s

    def remaining(self):
        """Seconds left for measuring, the cleanup reserve already taken off."""
        return self.total - self.reserve - (time.monotonic() - self.start)

    def deadline(self):
        """The monotonic time by which measuring must have stopped."""
        return self.start + self.total - self.reserve


class Cleanup:
    """A stack of undo steps; run() executes the remaining ones newest first."""

    def __init__(self):
        self._steps = []

    def push(self, what, fn):
        step = [what, fn]
        self._steps.append(step)
        return step

    def done(self, step):
        """The step's resource is gone already: drop the step without running it."""
        if step in self._steps:
            self._steps.remove(step)

    def run_one(self, step):
        if step in self._steps:
            self._steps.remove(step)
            _run_step(step)

    def mark(self):
        """A point to roll back to with run(mark)."""
        return len(self._steps)

    def run(self, mark=0):
        """Runs the steps pushed since mark (default: all), newest first."""
        while len(self._steps) > mark:
            _run_step(self._steps.pop())


def _run_step(step):
    what, fn = step
    try:
        fn()
    except Exception as e:  # a cleanup failure must not stop the others
        log(f"cleanup: {what}: {e}")


def proc_stat_cpu(pid):
    """utime + stime of process pid in seconds (/proc/PID/stat, clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_sched_s(pid):
    """CPU time of every thread of pid in seconds, at ns resolution (/proc/PID/task/*/schedstat)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # the thread ended between listdir and open
    return total / 1e9


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_nofile_limit(pid):
    """The soft RLIMIT_NOFILE of pid, or None when unlimited."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft = line.split()[3]
                return None if soft == "unlimited" else int(soft)
    return None


# Kernel-side memory that grows with live containers (tasks, namespaces, cgroups, mounts,
# page tables). Machine-wide, so other work on the machine adds noise to it.
KERNEL_FIELDS = ("Slab", "KernelStack", "PageTables")


def kernel_kb():
    total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            key, rest = line.split(":", 1)
            if key in KERNEL_FIELDS:
                total += int(rest.split()[0])
    return total


def cgroup_cpu_s(path):
    """usage_usec of a cgroup's cpu.stat (hierarchical: descendants included), in seconds."""
    try:
        with open(os.path.join(path, "cpu.stat")) as f:
            for line in f:
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) / 1e6
    except FileNotFoundError:
        return None
    return None


def cgroup_populated_leaves(parent, n):
    """How many of parent/0 .. parent/n-1 hold at least one process."""
    count = 0
    for i in range(n):
        try:
            with open(f"{parent}/{i}/cgroup.procs") as f:
                if f.read(1):
                    count += 1
        except FileNotFoundError:
            pass
    return count


def cgroup2_mount():
    """The mount point of the cgroup2 hierarchy, from /proc/self/mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if right.split()[0] == "cgroup2":
                return left.split()[4]
    raise RuntimeError("cgroup2: find mount: not mounted")


def remove_cgroup_tree(path, timeout_s=30):
    """Kills every process below path (cgroup.kill), then removes the directories bottom up."""
    if not os.path.isdir(path):
        return
    try:
        with open(os.path.join(path, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:
        pass  # nothing to kill, or the file is missing (kernel < 5.14)
    end = time.monotonic() + timeout_s
    for root, dirs, _ in os.walk(path, topdown=False):
        for d in dirs:
            _rmdir_retry(os.path.join(root, d), end)
    _rmdir_retry(path, end)


def _rmdir_retry(path, end):
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != 16 or time.monotonic() > end:  # EBUSY: processes still leaving
                raise RuntimeError(f"cgroup '{path}': rmdir: {e.strerror}") from None
            time.sleep(0.01)


def mounts_under(prefix):
    """Mount points at or below prefix, deepest first."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix.rstrip("/") + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def unmount_under(prefix):
    for point in mounts_under(prefix):
        subprocess.run(["umount", "-l", point], check=False)


def end_process(proc, grace_s=10):
    """Ends a subprocess.Popen by its pid: SIGTERM, then SIGKILL after grace_s."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace_s)
