"""Boots a kernel and initramfs under QEMU and reports how the guest ended.

The console (ttyS0) and the marker port (ttyS1) go to files. QEMU starts paused (-S); the rig
connects to its QMP socket, then lets the guest run, so no event can be missed. With -no-reboot
QEMU exits (status 0) both when the guest powers off and when it reboots; the QMP SHUTDOWN event
tells them apart by its reason: "guest-shutdown" for reboot(RB_POWER_OFF) (ACPI S5), "guest-reset"
for reboot(RB_AUTOBOOT), a triple fault, or panic=-1 after a kernel panic. On timeout, on an error
and when the driver is signalled, the rig kills its own QEMU by pid; PR_SET_PDEATHSIG kills QEMU
if the driver itself dies first.
"""

import ctypes
import dataclasses
import json
import os
import pathlib
import re
import select
import signal
import socket
import subprocess
import sys
import time

from . import scratch

QEMU = "qemu-system-x86_64"
PR_SET_PDEATHSIG = 1
# panic=-1: reboot at once on a panic, which -no-reboot turns into QEMU's exit. The hung-task
# detector names a task stuck in D state for 15 s (the default 120 s outlasts most timeouts).
BASE_APPEND = "console=ttyS0 panic=-1 sysctl.kernel.hung_task_timeout_secs=15"


class BootError(Exception):
    """QEMU could not be started or controlled; the text says which step failed."""


@dataclasses.dataclass
class Boot:
    exit_code: int | None  # None: killed by the rig
    shutdown_reason: str | None  # QMP SHUTDOWN "reason", None when QEMU sent none
    timed_out: bool
    seconds: float  # from QMP "cont" (the guest's first instruction) to QEMU's exit
    console: str
    markers: str


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _chardev_path(path):
    return str(path).replace(",", ",,")  # QEMU option syntax: a comma is doubled


def command(vmlinuz, initrd, console_log, markers_log, qmp_socket, memory, smp, accel, append,
            disk=None):
    """QEMU's argv. `disk`, when given, is a raw image attached as virtio-blk (the guest's
    /dev/vda); QEMU's default cache mode (writeback) honours the guest's flushes, and QEMU
    flushes the image when it exits."""
    # No -cpu host under KVM: on these nested hosts it dies setting MSR 0x10a.
    # TCG runs its vCPUs in one host thread (thread=single), never in parallel: with a thread per
    # vCPU (QEMU 7.2's default), the kernel's live patching of a static key (text_poke_bp, e.g.
    # memcg_kmem_enabled_key when the first memory cgroup appears) left both vCPUs re-running a
    # stale int3 forever (soft lockups, docs/vm-tests.md).
    accel_arg = "tcg,thread=single" if accel == "tcg" else accel
    drive = ["-drive", f"file={_chardev_path(disk)},format=raw,if=virtio"] if disk else []
    return [
        QEMU, "-accel", accel_arg, "-smp", str(smp), "-m", str(memory), *drive,
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-nic", "none",
        "-kernel", str(vmlinuz), "-initrd", str(initrd),
        "-append", f"{BASE_APPEND} {append}".strip(),
        "-chardev", f"file,id=console,path={_chardev_path(console_log)}", "-serial",
        "chardev:console",
        "-chardev", f"file,id=markers,path={_chardev_path(markers_log)}", "-serial",
        "chardev:markers",
        "-qmp", f"unix:{_chardev_path(qmp_socket)},server=on,wait=off", "-S",
    ]


class _Qmp:
    """Just enough QMP: the greeting, capabilities negotiation, one command, events."""

    def __init__(self, path, proc, deadline):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise BootError(f"qemu: QMP socket '{path}': never came up") from None
                time.sleep(0.02)
        self.buffer = b""
        self.events = []
        self._reply(deadline)  # the greeting
        self.execute("qmp_capabilities", deadline)

    def execute(self, command_name, deadline, arguments=None):
        message = {"execute": command_name}
        if arguments is not None:
            message["arguments"] = arguments
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        reply = self._reply(deadline)
        if "error" in reply:
            raise BootError(f"qemu: QMP {command_name}: {reply['error'].get('desc')}")

    def _reply(self, deadline):
        while True:
            for message in self._messages():
                if "event" in message:
                    self.events.append(message)
                else:
                    return message
            if not self.pump(max(0.0, deadline - time.monotonic())):
                raise BootError("qemu: QMP: no reply")

    def pump(self, timeout):
        """Reads what QEMU sent within `timeout`; False on EOF or when nothing came."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return False
        try:
            data = self.sock.recv(65536)
        except OSError:  # ECONNRESET when QEMU dies with unread input
            return False
        if not data:
            return False
        self.buffer += data
        return True

    def _messages(self):
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)

    def collect_events(self):
        for message in self._messages():
            if "event" in message:
                self.events.append(message)

    def shutdown_reason(self):
        for event in self.events:
            if event.get("event") == "SHUTDOWN":
                return event.get("data", {}).get("reason")
        return None


def boot(vmlinuz, initrd, console_log, markers_log, *, memory=1024, smp=2, accel="tcg",
         timeout=120, append="", echo=None, disk=None):
    """Runs one boot to its end or to the timeout. `echo`, when given, receives the console text
    as it arrives (for --verbose); `disk` is a raw image for the guest's /dev/vda."""
    console_log, markers_log = pathlib.Path(console_log), pathlib.Path(markers_log)
    for log in (console_log, markers_log):
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"")
    with scratch.directory("qmp") as tmp:
        qmp_path = pathlib.Path(tmp) / "qmp.sock"
        argv = command(vmlinuz, initrd, console_log, markers_log, qmp_path, memory, smp, accel,
                       append, disk)
        stderr_log = console_log.with_suffix(".qemu-stderr")
        with open(stderr_log, "wb") as stderr:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stderr,
                                        stderr=stderr, preexec_fn=_die_with_parent)
            except OSError as e:
                raise BootError(f"qemu: start '{QEMU}': {e.strerror}") from e
            try:
                return _supervise(proc, qmp_path, timeout, console_log, markers_log,
                                  stderr_log, echo)
            except BootError as e:
                proc.kill()
                proc.wait()
                said = stderr_log.read_text(errors="replace").strip().splitlines()
                raise BootError(f"{e}; QEMU exited {proc.returncode}"
                                f"{': ' + said[-1] if said else ''}") from None
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def _supervise(proc, qmp_path, timeout, console_log, markers_log, stderr_log, echo):
    qmp = _Qmp(qmp_path, proc, time.monotonic() + 10)
    try:
        return _run_guest(proc, qmp, timeout, console_log, markers_log, stderr_log, echo)
    finally:
        qmp.sock.close()


# A guest asks the host to press keys with a marker line `BERTH-VM: <scenario> keys=KEY+KEY...`
# (guest/lib.sh vm_keys); the host sends them through QMP send-key as one chord, as a user at the
# keyboard would (ctrl+alt+delete reaches PID 1 as the kernel's ctrl-alt-del SIGINT).
KEYS = re.compile(rb"BERTH-VM: \S+ keys=([a-z0-9_+-]+)\s*$", re.M)


def _press_requested_keys(qmp, markers_log, offset):
    with open(markers_log, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1  # whole lines only; the rest is read next time
    for m in KEYS.finditer(data[:end]):
        keys = [{"type": "qcode", "data": key} for key in m.group(1).decode().split("+")]
        qmp.execute("send-key", time.monotonic() + 10, {"keys": keys})
    return offset + end


def _run_guest(proc, qmp, timeout, console_log, markers_log, stderr_log, echo):
    qmp.execute("cont", time.monotonic() + 10)
    start = time.monotonic()
    deadline = start + timeout
    echoed = 0
    keys_read = 0
    timed_out = False
    while proc.poll() is None:
        if time.monotonic() > deadline:
            timed_out = True
            proc.kill()
            proc.wait()
            break
        if not qmp.pump(0.1):
            time.sleep(0.05)  # EOF or idle: do not spin
        qmp.collect_events()
        keys_read = _press_requested_keys(qmp, markers_log, keys_read)
        echoed = _echo(console_log, echoed, echo)
    seconds = time.monotonic() - start
    while qmp.pump(0.2):  # events QEMU sent just before it exited are still in the socket
        pass
    qmp.collect_events()
    _echo(console_log, echoed, echo)
    if proc.returncode not in (0, None) and not timed_out:
        sys.stderr.write(stderr_log.read_text(errors="replace"))
    return Boot(None if timed_out else proc.returncode, qmp.shutdown_reason(), timed_out,
                seconds, console_log.read_text(errors="replace"),
                markers_log.read_text(errors="replace"))


def _echo(path, offset, echo):
    if echo is None:
        return offset
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    if data:
        echo(data.decode(errors="replace"))
    return offset + len(data)


def kvm_usable(vmlinuz, initrd, log_dir, timeout):
    """True when a minimal guest boots to its DONE marker under KVM within `timeout` seconds.
    KVM is known to hang on some of these (nested) machines, so this is opt-in."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        result = boot(vmlinuz, initrd, log_dir / "kvm-probe.log",
                      log_dir / "kvm-probe.markers.log", memory=256, smp=1, accel="kvm",
                      timeout=timeout)
    except BootError:
        return False
    return (not result.timed_out and result.exit_code == 0 and
            "BERTH-VM: kvm-probe DONE" in result.console)
