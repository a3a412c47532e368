"""bench/fleet's crun and runc runs: OCI bundles, and a launcher inside a private mount namespace.

crun and runc, in this machine's hybrid cgroup layout, would put containers into the cgroup v1
hierarchies. So each run happens inside `unshare -m --propagation private`, where a cgroup2
directory of ours is bind-mounted over /sys/fs/cgroup: the runtimes see pure cgroup2 and the
host's mounts stay untouched. Each container gets cgroupsPath /fleet/<i> (below that
directory), berth's namespaces (pid, mount, uts, ipc, cgroup), berth's mounts and Docker's
capability set, allow-all device rules (the default rules need an eBPF program, and loading
one fails here: root lacks CAP_SYS_RESOURCE for RLIMIT_MEMLOCK) and the busybox layer itself as
a shared read-only rootfs (no overlay, no upper layer): their figures are a lower bound.

The outer half (OciRun) writes the bundles and reads host-side figures; the inner half (this
file run as `fleet_oci.py inner JSON`, in the namespace) launches `<runtime> run -d` with P
launchers at a time, reports, waits for a line on stdin, then runs `<runtime> delete -f`.
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time

import fleet_common as fc

CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
CGROUP_PARENT = "fleet"  # below the bind-mounted cgroup2 directory


def oci_config(rootfs, index):
    """config.json of container `index`: the OCI equivalent of berth's fleet service."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sleep", "100000"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"BERTH_REPLICA={index}"],
            "cwd": "/",
            "capabilities": {k: CAPS for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": f"fleet-{index}",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "mount", "uts", "ipc", "cgroup")],
            "cgroupsPath": f"/{CGROUP_PARENT}/{index}",
            "resources": {"devices": [{"allow": True, "access": "rwm"}]},
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger", "/proc/acpi"],
        },
    }


def write_bundles(directory, rootfs, start, end):
    """Bundles start .. end-1 under directory (each a directory holding config.json)."""
    for i in range(start, end):
        os.makedirs(f"{directory}/{i}", exist_ok=True)
        with open(f"{directory}/{i}/config.json", "w") as f:
            json.dump(oci_config(rootfs, i), f)


class OciError(RuntimeError):
    pass


class OciRun:
    """One runtime at one N and one launcher count, driven from the host side."""

    def __init__(self, runtime, binary, base, cgroup_dir, bundles, n, parallel, cleanup):
        self.runtime = runtime
        self.n = n
        self.parallel = parallel
        self.cleanup = cleanup
        self.cgroup_dir = cgroup_dir  # host path of the directory bind-mounted in the namespace
        self.fleet_cgroup = os.path.join(cgroup_dir, CGROUP_PARENT)
        self.state_root = os.path.join(base, f"{runtime}-p{parallel}-{n}-state")
        self.log_path = os.path.join(base, f"{runtime}-p{parallel}-{n}.log")
        self.spec = {"binary": binary, "root": self.state_root, "bundles": bundles, "n": n,
                     "parallel": parallel, "cgroup_src": cgroup_dir, "prefix": f"fleet-{runtime}",
                     "log": self.log_path}
        self.proc = None
        self.figures = {"n": n}

    def _fail(self, what):
        tail = ""
        try:
            with open(self.log_path, errors="replace") as f:
                tail = "".join(f.readlines()[-10:])
        except FileNotFoundError:
            pass
        raise OciError(f"{self.runtime} P={self.parallel} N={self.n}: {what}" +
                       (f"; its log ends:\n{tail}" if tail else ""))

    def start(self, deadline, hard_deadline):
        """Launches all N (launching stops at deadline; the teardown must end by
        hard_deadline); the figures of the start phase, read while all N run."""
        os.makedirs(self.state_root, exist_ok=True)
        os.makedirs(self.cgroup_dir, exist_ok=True)
        self._cleanup_step = self.cleanup.push(f"{self.runtime} run", self._kill)
        spec = dict(self.spec, deadline=deadline, hard_deadline=hard_deadline)
        kern0 = fc.kernel_kb()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["unshare", "-m", "--propagation", "private", "--", sys.executable, "-B",
                 os.path.abspath(__file__), "inner", json.dumps(spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        line = self.proc.stdout.readline()
        if not line:
            self._fail(f"launcher exited {self.proc.wait()} before reporting")
        report = json.loads(line)
        f = self.figures
        f["kernel_kb"] = fc.kernel_kb() - kern0
        f["in_cpu"] = fc.cgroup_cpu_s(self.fleet_cgroup)
        f["populated"] = fc.cgroup_populated_leaves(self.fleet_cgroup, self.n)
        f["to_running"] = report["wall"]
        f["mgr_cpu"] = report["cpu"]
        f["started"] = len(report["ok"])
        f["failures"] = report["failures"]
        f["aborted"] = report["aborted"]
        f["mgr_rss_per_kb"] = 0.0  # no resident manager: a launcher exits once its container runs
        if report["failures"]:
            self._fail(f"{len(report['failures'])} launches failed, first: {report['failures'][0]}")

    def stop(self):
        """`delete -f` of every container; the time until all are gone."""
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        rc = self.proc.wait()
        if not line:
            self._fail(f"launcher exited {rc} during teardown")
        report = json.loads(line)
        if report["aborted"]:
            self._fail("teardown ran out of time")
        self.figures["teardown"] = report["wall"]
        self.figures["teardown_cpu"] = report["cpu"]
        if report["failures"]:
            self._fail(f"{len(report['failures'])} deletes failed, first: {report['failures'][0]}")
        left = os.listdir(self.state_root)
        if left:
            self._fail(f"state left in '{self.state_root}': {left[:3]}")
        fc.remove_cgroup_tree(self.fleet_cgroup)  # /fleet itself: the runtimes leave it
        self.cleanup.done(self._cleanup_step)

    def _kill(self):
        """Cleanup after a failure: end the launcher by pid, kill the cgroups, drop the state."""
        if self.proc is not None:
            fc.end_process(self.proc, grace_s=20)
        fc.remove_cgroup_tree(self.fleet_cgroup)
        subprocess.run(["rm", "-rf", self.state_root], check=False)


# ---- the inner half: runs in the private mount namespace ----

PR_SET_CHILD_SUBREAPER = 36


class _Deadline(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Deadline()


def _pool(commands, parallel, logfd, deadline):
    """Runs commands with at most `parallel` at once, reaping orphans as they come.

    Returns the wall time, the launchers' CPU (their rusage, which includes what they waited
    for), the indexes of the commands that exited 0, the failures, and whether the deadline
    cut the run short.
    """
    running = {}
    cpu = 0.0
    ok = []
    failures = []
    aborted = False
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
               (os.POSIX_SPAWN_DUP2, logfd, 2)]
    todo = iter(enumerate(commands))
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, max(0.01, deadline - t0))
    try:
        pending = True
        while pending or running:
            while pending and len(running) < parallel:
                item = next(todo, None)
                if item is None:
                    pending = False
                    break
                i, argv = item
                running[os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)] = i
            if not running:
                break
            pid, status, ru = os.wait4(-1, 0)
            if pid in running:
                i = running.pop(pid)
                cpu += ru.ru_utime + ru.ru_stime
                if os.waitstatus_to_exitcode(status) == 0:
                    ok.append(i)
                else:
                    failures.append(f"#{i} exit {os.waitstatus_to_exitcode(status)}")
            # any other pid: a container orphaned to us (we are its subreaper) that ended
    except BaseException as e:  # the deadline, or SIGTERM (SystemExit): end the launchers
        for pid in running:
            os.kill(pid, signal.SIGKILL)
        for pid in running:
            os.waitpid(pid, 0)
        if not isinstance(e, _Deadline):
            raise
        aborted = True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return {"wall": time.monotonic() - t0, "cpu": cpu, "ok": ok, "failures": failures,
            "aborted": aborted}


def _reap_orphans(timeout_s):
    """Collects the containers orphaned to us once they have been killed."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def inner(spec):
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    subprocess.run(["mount", "--bind", spec["cgroup_src"], "/sys/fs/cgroup"], check=True)
    if not os.path.exists("/sys/fs/cgroup/cgroup.procs"):
        raise SystemExit("fleet_oci: /sys/fs/cgroup: bind mount: not a cgroup2 directory")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit("fleet_oci: prctl PR_SET_CHILD_SUBREAPER: "
                         + os.strerror(ctypes.get_errno()))
    binary, root, prefix, n = spec["binary"], spec["root"], spec["prefix"], spec["n"]
    logfd = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    fleet = f"/sys/fs/cgroup/{CGROUP_PARENT}"
    started = []
    try:
        runs = [[binary, "--root", root, "run", "-d", "--bundle", f"{spec['bundles']}/{i}",
                 f"{prefix}-{i}"] for i in range(n)]
        report = _pool(runs, spec["parallel"], logfd, spec["deadline"])
        started = report["ok"]
        print(json.dumps(report), flush=True)
        sys.stdin.readline()
        deletes = [[binary, "--root", root, "delete", "-f", f"{prefix}-{i}"] for i in started]
        report = _pool(deletes, spec["parallel"], logfd, spec["hard_deadline"])
        if not report["aborted"] and not report["failures"]:
            started = []
        print(json.dumps(report), flush=True)
    finally:
        if started and os.path.exists(f"{fleet}/cgroup.kill"):
            with open(f"{fleet}/cgroup.kill", "w") as f:
                f.write("1")
        _reap_orphans(10)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "inner":
    inner(json.loads(sys.argv[2]))
