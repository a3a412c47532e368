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
class ConsoleGap:
    """`console-gap CHECK MIN MAX FROM => TO`: the time from the first console line that matches
    FROM to the first later line that matches TO, by the log times at their starts, lies within
    [MIN, MAX] seconds. The gap is also kept as the value CHECK (seconds)."""
    check: str
    low: float
    high: float
    start: re.Pattern
    end: re.Pattern


@dataclasses.dataclass(frozen=True)
class Disk:
    """`disk SIZE MOUNTPOINT`: an ext4 image of `size` bytes, made by the host before the first
    boot, attached as the guest's /dev/vda and mounted at `mount` before PID 1 starts."""
    size: int
    mount: str


@dataclasses.dataclass
class Expect:
    passes: list = dataclasses.field(default_factory=list)  # checks that must report PASS
    # check -> a berth binary (berthctl): the check must PASS only when the guest has it.
    needs: dict = dataclasses.field(default_factory=dict)
    console: list = dataclasses.field(default_factory=list)  # ConsoleCheck
    console_uptimes: list = dataclasses.field(default_factory=list)  # ConsoleUptime
    console_gaps: list = dataclasses.field(default_factory=list)  # ConsoleGap
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
    disk: Disk | None = None  # a persistent disk, shared by every boot of the scenario
    boots: int = 1  # how many times the scenario boots (the same disk each time)
    same: list = dataclasses.field(default_factory=list)  # values equal in every boot
    # boot number -> [(directive, args, rest, where)]: lines that hold for that boot only
    per_boot: dict = dataclasses.field(default_factory=dict)


# What a `boot N` line may say: what a single boot is judged by. Everything else (timeout,
# memory, disk, ...) is the scenario's, the same in every boot.
PER_BOOT = ("pass", "console", "console-not", "console-uptime", "console-gap", "value",
            "shutdown")
SIZE = re.compile(r"([0-9]+)([KMG]?)$")
SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
MIN_DISK = 8 << 20  # mkfs.ext4 makes a usable filesystem (journal and all) from here


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
            if key == "boot":
                _add_boot_line(expect, args, line, where)
            else:
                _apply(expect, key, args, line[len(key):].strip())
        except ValueError as e:
            raise ExpectError(f"{where}: '{raw.strip()}': {e}") from e
    for boot, lines in expect.per_boot.items():
        if boot > expect.boots:
            raise ExpectError(f"{lines[0][3]}: 'boot {boot}' but the scenario boots "
                              f"{expect.boots} time{'s' if expect.boots > 1 else ''} "
                              "(directive 'boots')")
    return expect


def _add_boot_line(expect, args, line, where):
    """`boot N DIRECTIVE ...`: DIRECTIVE (one of PER_BOOT) holds for boot N only."""
    if len(args) < 2 or not args[0].isdigit() or int(args[0]) < 1:
        raise ValueError("'boot' takes a boot number (1, 2, ...) and a directive")
    key = args[1]
    if key not in PER_BOOT:
        raise ValueError(f"'{key}' cannot be limited to one boot (only {', '.join(PER_BOOT)})")
    rest = line.split(None, 2)[2][len(key):].strip()
    _apply(Expect(), key, args[2:], rest)  # its errors now, on a scratch copy
    expect.per_boot.setdefault(int(args[0]), []).append((key, args[2:], rest, where))


def for_boot(expect, boot):
    """The Expect that boot number `boot` (1, 2, ...) is judged by: the scenario's directives
    plus its own `boot N` lines."""
    mine = dataclasses.replace(
        expect, passes=list(expect.passes), needs=dict(expect.needs),
        console=list(expect.console), console_uptimes=list(expect.console_uptimes),
        console_gaps=list(expect.console_gaps), values=list(expect.values))
    for key, args, rest, _where in expect.per_boot.get(boot, []):
        _apply(mine, key, args, rest)
    return mine


def judge_same(expect, reports):
    """Failures of the `same KEY` directives over the reports of every boot, in boot order:
    KEY must have come in each boot, with one value."""
    failures = []
    for key in expect.same:
        seen = [report.values.get(key) for report in reports]
        if None in seen or len(set(seen)) > 1:
            told = ", ".join(f"boot {n}: {v if v is not None else '(none)'}"
                             for n, v in enumerate(seen, start=1))
            failures.append(f"value {key}: not the same in every boot ({told})")
    return failures


def parse_size(text):
    """`16M`, `1G`, `65536`: a size in bytes (K, M, G are powers of 1024)."""
    m = SIZE.match(text)
    if m is None:
        raise ValueError(f"size '{text}': not a number with an optional K, M or G")
    return int(m.group(1)) * SIZE_UNITS[m.group(2)]


def _name_and_pattern(key, rest):
    """`NAME REGEX`: the regex is the rest of the line as written (runs of spaces kept)."""
    parts = rest.split(None, 1)
    if len(parts) != 2:
        raise ValueError(f"'{key}' takes a name and a regular expression")
    try:
        return parts[0], re.compile(parts[1].strip())
    except re.error as e:
        raise ValueError(f"bad regular expression: {e}") from e


def _gap(rest):
    """`CHECK MIN MAX FROM => TO`, the seconds as decimals, the regexes as written."""
    parts = rest.split(None, 3)
    if len(parts) != 4 or " => " not in parts[3]:
        raise ValueError("'console-gap' takes a name, MIN and MAX seconds, and FROM => TO regexes")
    try:
        low, high = float(parts[1]), float(parts[2])
    except ValueError as e:
        raise ValueError(f"'console-gap' seconds: {e}") from e
    if not 0 <= low <= high:
        raise ValueError(f"'console-gap' needs 0 <= MIN <= MAX, got {parts[1]} and {parts[2]}")
    start, end = (text.strip() for text in parts[3].split(" => ", 1))
    try:
        return ConsoleGap(parts[0], low, high, re.compile(start), re.compile(end))
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
    elif key == "console-gap":
        expect.console_gaps.append(_gap(rest))
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
    elif key == "disk":
        if len(args) != 2:
            raise ValueError("'disk' takes a size and a mount point")
        size = parse_size(args[0])
        if size < MIN_DISK:
            raise ValueError(f"disk size {args[0]}: below {MIN_DISK >> 20}M")
        if not args[1].startswith("/") or args[1] == "/" or "'" in args[1]:
            raise ValueError(f"mount point '{args[1]}': not an absolute path below /")
        expect.disk = Disk(size, args[1].rstrip("/"))
    elif key == "boots":
        if not one().isdigit() or int(args[0]) < 1:
            raise ValueError("boots is a count, 1 or more")
        expect.boots = int(args[0])
    elif key == "same":
        if one() not in expect.same:
            expect.same.append(args[0])
        if args[0] not in expect.values:
            expect.values.append(args[0])
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
    for g in expect.console_gaps:
        report.checks.setdefault(g.check, []).append(_judge_gap(g, lines, report))
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


def _log_time(line):
    stamp = LOG_TIME.search(line)
    if stamp is None:
        return None
    wall = datetime.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f")
    return wall.replace(tzinfo=datetime.timezone.utc).timestamp()


def _judge_gap(g, lines, report):
    first = next((i for i, line in enumerate(lines) if g.start.search(line)), None)
    if first is None:
        return "FAIL", f"no console line matches /{g.start.pattern}/"
    last = next((i for i in range(first + 1, len(lines)) if g.end.search(lines[i])), None)
    if last is None:
        return "FAIL", f"no console line after '{lines[first]}' matches /{g.end.pattern}/"
    begun, ended = _log_time(lines[first]), _log_time(lines[last])
    if begun is None or ended is None:
        return "FAIL", f"no log time at the start of '{lines[first if begun is None else last]}'"
    gap = ended - begun
    report.values[g.check] = f"{gap:.3f}"
    verdict = "PASS" if g.low <= gap <= g.high else "FAIL"
    return verdict, f"{gap:.3f} s, expected {g.low:g}-{g.high:g} s"


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
