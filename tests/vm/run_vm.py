#!/usr/bin/python3
"""berth's VM test driver: boots scenarios under QEMU on a Debian kernel and judges the markers.

    run_vm.py prepare                  fetch and unpack the kernel into the cache (idempotent)
    run_vm.py list                     the scenarios in tests/vm/scenarios
    run_vm.py run SCENARIO...          boot each scenario and judge it (names or directories)
    run_vm.py shell [SCENARIO]         a scenario's initramfs with an interactive shell as PID 1

Exit status of `run`: 0 every scenario passed, 1 one failed, 2 the rig itself failed (kernel,
initramfs, QEMU), 77 every scenario was skipped (a berth scenario without a berth build).
Environment: BERTH_VM_CACHE (kernel cache, default /var/cache/berth-vm), BERTH_BUILD_DIR (where
berth, berth-shim, berthctl are), BERTH_VM_ACCEL (tcg, the default; kvm; auto: a probe boot
decides), BERTH_VM_LOG_DIR (default /tmp/berth-vm-logs), BERTH_VM_APPEND (more kernel command
line). docs/vm-tests.md has the details.
"""

import argparse
import dataclasses
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from vmrig import image, kernel, markers, qemu, scratch  # noqa: E402
from vmrig import scenario as scenariomod  # noqa: E402

SCENARIOS_DIR = pathlib.Path(__file__).resolve().parent / "scenarios"
EXIT_PASS, EXIT_FAIL, EXIT_RIG, EXIT_SKIP = 0, 1, 2, 77
KVM_PROBE_TIMEOUT = 20


def log(text):
    print(text, flush=True)


def main(argv=None):
    signal.signal(signal.SIGTERM, _terminate)
    args = _parser().parse_args(argv)
    scratch.sweep_stale()
    try:
        return args.func(args)
    except (kernel.KernelError, image.ImageError, qemu.BootError, scenariomod.ScenarioError,
            markers.ExpectError) as e:
        log(f"berth-vm: {e}")
        return EXIT_RIG


def _terminate(signum, _frame):
    # Unwinds through the finally blocks: QEMU is killed by pid, temp dirs are removed.
    raise SystemExit(128 + signum)


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(required=True)

    p = sub.add_parser("prepare", help="fetch and unpack the kernel into the cache")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("list", help="list the scenarios")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="boot scenarios and judge them")
    p.add_argument("scenarios", nargs="+", help="scenario names or directories")
    _common(p)
    p.add_argument("--log-dir", default=os.environ.get("BERTH_VM_LOG_DIR", "/tmp/berth-vm-logs"),
                   help="where <scenario>.log (console) and <scenario>.markers.log are kept")
    p.add_argument("--require-berth", action="store_true",
                   help="fail, not skip, a berth scenario whose berth binary is missing")
    p.add_argument("--timeout", type=int, help="override the expect files' timeouts (seconds)")
    p.add_argument("--verbose", "-v", action="store_true", help="echo the console while it boots")
    p.add_argument("--keep-initramfs", metavar="DIR", help="copy each initramfs into DIR")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("shell", help="interactive shell as PID 1 (ctrl-a x quits QEMU)")
    p.add_argument("scenario", nargs="?", default="rig-boot")
    _common(p)
    p.set_defaults(func=cmd_shell)
    return parser


def _common(p):
    p.add_argument("--stand-in-dir", help="the build dir of the rig's stand-in berth (CMake sets "
                   "it), used by scenarios whose expect says 'berth stand-in'")
    p.add_argument("--berth-build-dir", default=os.environ.get("BERTH_BUILD_DIR"),
                   help="directory holding berth, berth-shim, berthctl (default $BERTH_BUILD_DIR)")
    p.add_argument("--accel", choices=("tcg", "kvm", "auto"),
                   default=os.environ.get("BERTH_VM_ACCEL", "tcg"),
                   help="tcg (default), kvm, or auto: kvm only if a probe boot works")


def cmd_prepare(_args):
    kern = kernel.prepare(log)
    log(f"berth-vm: kernel {kern.package} {kern.version} (release {kern.release})")
    log(f"berth-vm: vmlinuz '{kern.vmlinuz}'")
    log(f"berth-vm: modules '{kern.modules_dir}'")
    log(f"berth-vm: overlay: {' '.join(kern.module_chain('overlay'))}")
    return EXIT_PASS


def cmd_list(_args):
    for path in sorted(SCENARIOS_DIR.iterdir()):
        if (path / "expect").is_file():
            log(path.name)
    return EXIT_PASS


def _scenario_dir(name):
    path = pathlib.Path(name)
    return path if path.is_dir() else SCENARIOS_DIR / name


def _berth_dir(scen, args):
    """(dir, None) for the berth binaries a scenario gets (None: it gets none), or
    (None, reason) when it wants berth and there is no berth binary to give it."""
    if scen.berth == "none":
        return None, None
    if scen.berth == "stand-in":
        wanted, what = args.stand_in_dir, "the rig's stand-in (--stand-in-dir; target " \
            "berth_vm_stand_in)"
    else:
        wanted, what = args.berth_build_dir, "a berth build (--berth-build-dir or BERTH_BUILD_DIR)"
    if not wanted:
        return None, f"needs {what}"
    # A berth build without its shim starts no container: both, or the scenario cannot run.
    names = ("berth",) if scen.berth == "stand-in" else ("berth", "berth-shim")
    for name in names:
        if not (pathlib.Path(wanted) / name).is_file():
            return None, f"needs {what}: no '{name}' in '{wanted}'"
    return wanted, None


def _accel(args, kern, tmp, log_dir):
    if args.accel != "auto":
        return args.accel
    boot_id = pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    verdict_file = kernel.cache_dir() / f"kvm-probe.{boot_id}"
    if verdict_file.exists():
        return verdict_file.read_text().strip()
    initrd = pathlib.Path(tmp) / "kvm-probe.cpio.gz"
    image.probe_image(initrd, "kvm-probe")
    log(f"berth-vm: probing KVM (a minimal boot, {KVM_PROBE_TIMEOUT} s at most)")
    accel = "kvm" if qemu.kvm_usable(kern.vmlinuz, initrd, log_dir, KVM_PROBE_TIMEOUT) else "tcg"
    log(f"berth-vm: KVM probe: using {accel}")
    verdict_file.write_text(accel + "\n")
    return accel


def cmd_run(args):
    log_dir = pathlib.Path(args.log_dir).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    scenarios = [scenariomod.load(_scenario_dir(name)) for name in args.scenarios]
    kern = None
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for scen in scenarios:
        berth_dir, missing = _berth_dir(scen, args)
        if missing is not None:
            # The stand-in is the rig's own: its absence is the rig's failure, never a skip.
            if args.require_berth or scen.berth == "stand-in":
                log(f"berth-vm: {scen.name} FAIL: {missing}")
                counts["failed"] += 1
            else:
                log(f"berth-vm: {scen.name} SKIP: {missing}")
                counts["skipped"] += 1
            continue
        if kern is None:
            kern = kernel.prepare(log)
        ok = _run_one(scen, kern, berth_dir, args, log_dir)
        counts["passed" if ok else "failed"] += 1
    log(f"vm: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    if counts["failed"]:
        return EXIT_FAIL
    return EXIT_SKIP if counts["skipped"] and not counts["passed"] else EXIT_PASS


def _run_one(scen, kern, berth_dir, args, log_dir):
    """Boots the scenario `boots` times (the same initramfs, the same disk), judging each boot;
    a failed boot ends the scenario. `timeout` covers all boots together."""
    expect = scen.expect
    timeout = args.timeout or expect.timeout
    with scratch.directory(scen.name) as tmp:
        initrd = pathlib.Path(tmp) / "initramfs.cpio.gz"
        started = time.monotonic()
        summary, binaries = image.build(kern, scen, initrd, berth_dir)
        disk = None
        if expect.disk is not None:
            disk = pathlib.Path(tmp) / "disk.img"
            image.make_disk(disk, expect.disk.size)
            summary += f"; disk {expect.disk.size >> 20} MiB ext4 at '{expect.disk.mount}'"
        built = time.monotonic() - started
        if args.keep_initramfs:
            keep = pathlib.Path(args.keep_initramfs)
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{scen.name}.cpio.gz").write_bytes(initrd.read_bytes())
        accel = _accel(args, kern, tmp, log_dir)
        log(f"berth-vm: {scen.name}: kernel {kern.release} ({kern.version}), accel {accel}, "
            f"initramfs in {built:.2f} s: {summary}")
        deadline = time.monotonic() + timeout
        reports = []
        for number in range(1, expect.boots + 1):
            # One boot's files: <name>.log and so on, or <name>.boot<N>.log with several boots.
            stem = scen.name if expect.boots == 1 else f"{scen.name}.boot{number}"
            label = scen.name if expect.boots == 1 else f"{scen.name} boot {number}"
            left = max(1, int(deadline - time.monotonic()))
            mine = dataclasses.replace(markers.for_boot(expect, number), timeout=left)
            verdict = _boot_once(scen, kern, initrd, disk, accel, mine, number, args,
                                 log_dir, stem, label, binaries)
            reports.append(verdict.report)
            if not verdict.ok:
                if number < expect.boots:
                    log(f"berth-vm: {scen.name}: boot {number} failed; boots "
                        f"{number + 1}..{expect.boots} not run")
                return False
    failures = markers.judge_same(expect, reports)
    for failure in failures:
        log(f"berth-vm: {scen.name}: {failure}")
    if expect.same:
        log(f"berth-vm: {scen.name} {'FAIL' if failures else 'PASS'} over {expect.boots} boots "
            f"(same in every boot: {' '.join(expect.same)})")
    return not failures


def _boot_once(scen, kern, initrd, disk, accel, expect, number, args, log_dir, stem, label,
               binaries):
    console_log = log_dir / f"{stem}.log"
    markers_log = log_dir / f"{stem}.markers.log"
    echo = (lambda text: sys.stdout.write(text)) if args.verbose else None
    # berth_vm.boot=N (a dotted parameter: the kernel neither uses it nor hands it to /init's
    # environment) tells a guest script which boot this is (guest/lib.sh vm_boot).
    append = f"berth_vm.boot={number} {os.environ.get('BERTH_VM_APPEND', '')}".strip()
    boot = qemu.boot(kern.vmlinuz, initrd, console_log, markers_log, memory=expect.memory,
                     smp=expect.smp, accel=accel, timeout=expect.timeout, append=append,
                     echo=echo, disk=disk)
    verdict = markers.judge(scen.name, expect, boot.console, boot.markers, boot.exit_code,
                            boot.shutdown_reason, boot.timed_out, present=binaries)
    _print_verdict(label, verdict, boot, console_log, markers_log)
    # Every value of the boot, the host's computed ones (console-uptime) included, one KEY=VALUE
    # a line: what a benchmark record reads (boot_to_ready_seconds).
    values_file = log_dir / f"{stem}.values"
    values_file.write_text("".join(f"{k}={v}\n" for k, v in verdict.report.values.items()))
    return verdict


def _print_verdict(label, verdict, boot, console_log, markers_log):
    report = verdict.report
    for check, results in report.checks.items():
        for status, detail in results:
            log(f"BERTH-VM: {label} {check} {status} {detail}".rstrip())
    for key, value in report.values.items():
        log(f"BERTH-VM: {label} {key}={value}")
    ending = markers.ENDINGS.get(boot.shutdown_reason, boot.shutdown_reason)
    log(f"berth-vm: {label}: QEMU exit {boot.exit_code}, ending {ending} "
        f"(QMP {boot.shutdown_reason}), {boot.seconds:.1f} s from start to exit")
    for warning in verdict.warnings:
        log(f"berth-vm: {label}: warning: {warning}")
    for skipped in verdict.skipped:
        log(f"berth-vm: {label}: skipped check {skipped}")
    if verdict.ok:
        log(f"berth-vm: {label} PASS")
        return
    for failure in verdict.failures:
        log(f"berth-vm: {label}: {failure}")
    log(f"berth-vm: {label} FAIL; console log '{console_log}', markers '{markers_log}'")


def cmd_shell(args):
    scen = scenariomod.load(_scenario_dir(args.scenario))
    scen.pid1 = ["/bin/busybox", "cttyhack", "/bin/sh", "-l"]
    scen.probe = None
    berth_dir, missing = _berth_dir(scen, args)
    if missing is not None:
        log(f"berth-vm: shell: without berth: {missing}")
    kern = kernel.prepare(log)
    with scratch.directory("shell") as tmp:
        initrd = pathlib.Path(tmp) / "initramfs.cpio.gz"
        log(f"berth-vm: shell: {image.build(kern, scen, initrd, berth_dir)[0]}")
        accel = _accel(args, kern, tmp, pathlib.Path(tmp))
        disk = None
        if scen.expect.disk is not None:  # a fresh one, gone with the shell
            disk = pathlib.Path(tmp) / "disk.img"
            image.make_disk(disk, scen.expect.disk.size)
        argv = qemu.command(kern.vmlinuz, initrd, "/dev/null", pathlib.Path(tmp) / "markers.log",
                            pathlib.Path(tmp) / "qmp.sock", scen.expect.memory, scen.expect.smp,
                            accel, "berth_vm.boot=1", disk)
        # The console on this terminal instead of a file, and no paused start or QMP.
        argv[argv.index("chardev:console")] = "mon:stdio"
        qmp_at = argv.index("-qmp")
        del argv[qmp_at:qmp_at + 3]
        log(f"berth-vm: {shlex.join(argv)}")
        return subprocess.call(argv)


if __name__ == "__main__":
    sys.exit(main())
