"""The host side's judgement of a boot: expect files, marker lines from the serial ports, verdicts.

The guest reports with lines of one shape (written by guest/lib.sh):
    BERTH-VM: <scenario> <check> PASS|FAIL|SKIP [detail]
    BERTH-VM: <scenario> <key>=<value>   (the value runs to the end of the line)
    BERTH-VM: <scenario> DONE
A line may carry kernel text before the marker (printk can land mid-line on the console), so the
marker is searched anywhere in a line. Besides the markers, the host reads PID 1's own log on the
console (berth logs to stderr, which is the console): `console` checks search it, `console-uptime`
values place one of its lines on the guest's uptime clock. judge() is pure: it sees only texts and
numbers, which is what lets tests/vm/test_markers.py check it without booting anything.
"""

import dataclasses
import datetime
import re

MARKER = re.compile(r"BERTH-VM: (\S+) (.*?)\s*$")
CHECK = re.compile(r"(\S+) (PASS|FAIL|SKIP)(?: (.*))?$")
VALUE = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$")
PANIC = re.compile(r"Kernel panic")
WARNING = re.compile(r"(Oops:|BUG: |WARNING: CPU: |segfault at|blocked for more than|"
                     r"rcu_.*detected stalls|soft lockup)")

# QEMU's SHUTDOWN event reasons (qapi ShutdownCause) as the rig names the guest's ending.
ENDINGS = {
    "guest-shutdown": "poweroff",
    "guest-reset": "reboot",  # with -no-reboot QEMU exits instead of resetting
    "guest-panic": "panic",
    "host-signal": "killed",
    "host-qmp-quit": "killed",
}
# berth's text log line starts with its local time (spdlog "%Y-%m-%d %H:%M:%S.%e"); the guest has
# no time zone, so that is UTC.
LOG_TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")
# The guest's wall clock minus its uptime, in seconds (guest/lib.sh vm_clock_offset).
CLOCK_OFFSET = "clock_offset"
DEFAULT_TIMEOUT = 120
REQUIRED_VALUES = ("boot_seconds",)


def ending_from_console(console):
    """The kernel's last word before reboot(2) acts (kernel/reboot.c), when QMP said nothing."""
    if "reboot: Power down" in console:
        return "poweroff"
    if "reboot: Restarting system" in console:
        return "reboot"
    return "unknown"


class ExpectError(Exception):
    """An expect file that cannot be read; the text names the file and the line."""


@dataclasses.dataclass
class ConsoleCheck:
    """`console CHECK REGEX`: some console line matches REGEX (present), or, for
    `console-not CHECK REGEX`, none does. Marker lines are not searched."""
    check: str
    pattern: re.Pattern
    present: bool


@dataclasses.dataclass
class ConsoleUptime:
    """`console-uptime KEY REGEX`: KEY is the guest's uptime (seconds since the kernel started)
    at the last console line that matches REGEX, from the log time at that line's start and the
    guest's clock_offset value."""
    key: str
    pattern: re.Pattern


@dataclasses.dataclass
class Expect:
    passes: list = dataclasses.field(default_factory=list)  # checks that must report PASS
    # check -> a berth binary (berthctl): the check must PASS only when the guest has it.
    needs: dict = dataclasses.field(default_factory=dict)
    console: list = dataclasses.field(default_factory=list)  # ConsoleCheck
    console_uptimes: list = dataclasses.field(default_factory=list)  # ConsoleUptime
    values: list = dataclasses.field(default_factory=lambda: list(REQUIRED_VALUES))
    timeout: int = DEFAULT_TIMEOUT
    shutdown: str = "poweroff"  # poweroff or reboot
    memory: int = 1024  # MiB
    smp: int = 2
    modules: list = dataclasses.field(default_factory=list)  # empty: the default set
    # Which berth binaries go into the guest: build (BERTH_BUILD_DIR), stand-in (the rig's
    # stand-in PID 1) or none. Unset: build for a berth scenario, none for a script scenario.
    berth: str | None = None
    pid1: list = dataclasses.field(default_factory=list)  # empty: by the scenario's files
    pristine: bool = False  # /init unmounts /proc and /sys before it execs PID 1
    root: str = "tmpfs"  # tmpfs: /init switch_roots onto a tmpfs; rootfs: PID 1 stays on rootfs


def parse_expect(text, origin="expect"):
    expect = Expect()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        words = line.split()
        if not words:
            continue
        key, args = words[0], words[1:]
        where = f"{origin}:{number}"
        try:
            _apply(expect, key, args, line[len(key):].strip())
        except ValueError as e:
            raise ExpectError(f"{where}: '{raw.strip()}': {e}") from e
    return expect


def _name_and_pattern(key, rest):
    """`NAME REGEX`: the regex is the rest of the line as written (runs of spaces kept)."""
    parts = rest.split(None, 1)
    if len(parts) != 2:
        raise ValueError(f"'{key}' takes a name and a regular expression")
    try:
        return parts[0], re.compile(parts[1].strip())
    except re.error as e:
        raise ValueError(f"bad regular expression: {e}") from e


def _apply(expect, key, args, rest):
    def one():
        if len(args) != 1:
            raise ValueError(f"'{key}' takes one argument")
        return args[0]

    if key == "pass":
        if len(args) == 3 and args[1] == "needs":
            expect.needs[args[0]] = args[2]
        elif len(args) != 1:
            raise ValueError("'pass' takes a check, optionally followed by 'needs BINARY'")
        expect.passes.append(args[0])
    elif key in ("console", "console-not"):
        check, pattern = _name_and_pattern(key, rest)
        expect.console.append(ConsoleCheck(check, pattern, key == "console"))
    elif key == "console-uptime":
        name, pattern = _name_and_pattern(key, rest)
        expect.console_uptimes.append(ConsoleUptime(name, pattern))
    elif key == "value":
        if one() not in expect.values:
            expect.values.append(args[0])
    elif key == "timeout":
        expect.timeout = int(one())
    elif key == "shutdown":
        if one() not in ("poweroff", "reboot"):
            raise ValueError("shutdown is 'poweroff' or 'reboot'")
        expect.shutdown = args[0]
    elif key == "memory":
        expect.memory = int(one())
    elif key == "smp":
        expect.smp = int(one())
    elif key == "module":
        expect.modules.append(one())
    elif key == "berth":
        if one() not in ("build", "stand-in", "none"):
            raise ValueError("berth is 'build', 'stand-in' or 'none'")
        expect.berth = args[0]
    elif key == "pid1":
        if not args:
            raise ValueError("'pid1' needs a program")
        expect.pid1 = list(args)
    elif key == "root":
        if one() not in ("tmpfs", "rootfs"):
            raise ValueError("root is 'tmpfs' or 'rootfs'")
        expect.root = args[0]
    elif key == "pristine":
        if args:
            raise ValueError("'pristine' takes no argument")
        expect.pristine = True
    else:
        raise ValueError(f"unknown directive '{key}'")


@dataclasses.dataclass
class Report:
    checks: dict = dataclasses.field(default_factory=dict)  # check -> [(status, detail)]
    values: dict = dataclasses.field(default_factory=dict)
    done: bool = False
    foreign: list = dataclasses.field(default_factory=list)  # markers of another scenario
    unparsed: list = dataclasses.field(default_factory=list)


def parse_markers(scenario, *texts):
    """Collects the markers of `scenario` from one or more serial logs (duplicates are harmless)."""
    report = Report()
    for text in texts:
        for line in text.replace("\r", "").splitlines():
            m = MARKER.search(line)
            if m is None:
                continue
            name, rest = m.groups()
            if name != scenario:
                report.foreign.append(line.strip())
                continue
            if rest == "DONE":
                report.done = True
            elif (c := CHECK.match(rest)) is not None:
                entry = (c.group(2), c.group(3) or "")
                if entry not in report.checks.setdefault(c.group(1), []):
                    report.checks[c.group(1)].append(entry)
            elif (v := VALUE.match(rest)) is not None:
                report.values[v.group(1)] = v.group(2)
            else:
                report.unparsed.append(line.strip())
    return report


@dataclasses.dataclass
class Verdict:
    ok: bool
    failures: list  # one line each, why the scenario failed
    warnings: list
    report: Report
    skipped: list = dataclasses.field(default_factory=list)  # checks not run, with the reason


def _log_lines(console):
    """The console without the markers: the kernel's and PID 1's own lines."""
    return [line.strip() for line in console.replace("\r", "").splitlines()
            if "BERTH-VM: " not in line]


def _judge_console(expect, lines, report, failures):
    for c in expect.console:
        hit = next((line for line in lines if c.pattern.search(line)), None)
        if c.present:
            entry = ("PASS", f"console: {hit}") if hit is not None else (
                "FAIL", f"no console line matches /{c.pattern.pattern}/")
        else:
            entry = ("FAIL", f"console: {hit}") if hit is not None else (
                "PASS", f"no console line matches /{c.pattern.pattern}/")
        report.checks.setdefault(c.check, []).append(entry)
    offset = report.values.get(CLOCK_OFFSET)
    for u in expect.console_uptimes:
        hits = [line for line in lines if u.pattern.search(line)]
        stamp = LOG_TIME.search(hits[-1]) if hits else None
        if not hits:
            failures.append(f"value {u.key}: no console line matches /{u.pattern.pattern}/")
        elif stamp is None:
            failures.append(f"value {u.key}: no log time at the start of '{hits[-1]}'")
        elif offset is None:
            failures.append(f"value {u.key}: no {CLOCK_OFFSET} marker (the probe calls "
                            "vm_clock_offset)")
        else:
            wall = datetime.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f")
            wall = wall.replace(tzinfo=datetime.timezone.utc).timestamp()
            report.values[u.key] = f"{wall - float(offset):.2f}"


def judge(scenario, expect, console, markers="", exit_code=None, shutdown_reason=None,
          timed_out=False, present=()):
    """The verdict on one boot: every expected PASS (a check that needs a binary the guest lacks,
    per `present`, is skipped instead), every console check and value, DONE, no FAIL, no panic,
    no timeout, QEMU exit status 0 and the expected ending (QMP's SHUTDOWN reason)."""
    report = parse_markers(scenario, markers, console)
    failures, warnings, skipped = [], [], []
    _judge_console(expect, _log_lines(console), report, failures)
    for check, results in report.checks.items():
        for status, detail in results:
            if status == "FAIL":
                failures.append(f"check {check} FAIL {detail}".rstrip())
    for check in expect.passes:
        results = report.checks.get(check, [])
        if any(status == "PASS" for status, _ in results):
            continue
        need = expect.needs.get(check)
        if need is not None and need not in present:
            said = [detail for status, detail in results if status == "SKIP"]
            skipped.append(f"{check}: needs {need}, which the guest lacks"
                           f"{' (the probe: ' + said[0] + ')' if said else ''}")
        else:
            failures.append(f"check {check}: no PASS marker")
    for check, results in report.checks.items():
        if check not in expect.passes and all(status == "SKIP" for status, _ in results):
            skipped.append(f"{check}: {results[0][1]}")
    for key in expect.values:
        if key not in report.values:
            failures.append(f"value {key}: no marker")
    if not report.done:
        failures.append("no DONE marker")
    for line in console.replace("\r", "").splitlines():
        if PANIC.search(line):
            failures.append(f"kernel panic: {line.strip()}")
            break
    for line in console.replace("\r", "").splitlines():
        if WARNING.search(line):
            warnings.append(f"kernel: {line.strip()}")
    if timed_out:
        failures.append(f"timeout after {expect.timeout} s (QEMU killed)")
    else:
        if exit_code != 0:
            failures.append(f"QEMU exit status {exit_code}, expected 0")
        ending = ENDINGS.get(shutdown_reason, shutdown_reason)
        if ending is None:
            ending = ending_from_console(console)
            warnings.append(f"no QMP SHUTDOWN event; the console says {ending}")
        if ending != expect.shutdown:
            failures.append(f"guest ended with {ending} (QMP SHUTDOWN reason "
                            f"{shutdown_reason}), expected {expect.shutdown}")
    for line in report.foreign:
        warnings.append(f"marker of another scenario: {line}")
    for line in report.unparsed:
        warnings.append(f"unparsed marker: {line}")
    return Verdict(not failures, failures, warnings, report, skipped)
