"""Unit tests of the VM rig's host side: the verdict on sample serial logs, expect files, scenario
directories and the newc writer. Nothing here boots; `python3 -m unittest discover -s tests/vm`.
"""

import gzip
import pathlib
import stat
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from vmrig import cpio, image, markers, qemu, scenario  # noqa: E402

EXPECT = """
# a comment line
pass alpha      # trailing comment
pass beta
value kernel
timeout 30
"""

GOOD_CONSOLE = """\
[    0.000000] Linux version 6.1.0-57-cloud-amd64
BERTH-VM: demo boot_seconds=2.41
BERTH-VM: demo kernel=6.1.0-57-cloud-amd64
BERTH-VM: demo alpha PASS
BERTH-VM: demo beta PASS two words of detail
BERTH-VM: demo DONE\r
[    4.1] reboot: Power down
"""


def verdict(console, expect_text=EXPECT, markers_text="", exit_code=0,
            reason="guest-shutdown", timed_out=False, present=()):
    return markers.judge("demo", markers.parse_expect(expect_text), console, markers_text,
                         exit_code, reason, timed_out, present)


# berth's own log on the console (its stderr), between the markers and kernel lines.
BERTH_CONSOLE = GOOD_CONSOLE.replace("BERTH-VM: demo DONE\r\n", """\
2026-12-03 12:12:58.931 debug supervisor: service hog/0: starting pid=135
2026-12-03 12:12:59.031 info  supervisor: service hog/0: ready pid=135
[    3.9] hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0
2026-12-03 12:12:59.532 info  supervisor: service idle/0: ready pid=137
2026-12-03 12:13:00.199 info  supervisor: service hog/0: killed by SIGKILL after OOM kill; \
restarting (restart 1)
BERTH-VM: demo probe PASS detail quoting shutdown_timeout reached
BERTH-VM: demo clock_offset=1796299975.500
BERTH-VM: demo DONE\r
""")


class JudgeTest(unittest.TestCase):
    def test_all_pass_and_done_passes(self):
        v = verdict(GOOD_CONSOLE)
        self.assertTrue(v.ok, v.failures)
        self.assertEqual(v.report.values["boot_seconds"], "2.41")
        self.assertEqual(v.report.checks["beta"], [("PASS", "two words of detail")])

    def test_missing_marker_fails(self):
        v = verdict(GOOD_CONSOLE.replace("BERTH-VM: demo beta PASS two words of detail\n", ""))
        self.assertFalse(v.ok)
        self.assertIn("check beta: no PASS marker", v.failures)

    def test_missing_value_fails(self):
        v = verdict(GOOD_CONSOLE.replace("BERTH-VM: demo kernel=6.1.0-57-cloud-amd64\n", ""))
        self.assertFalse(v.ok)
        self.assertIn("value kernel: no marker", v.failures)

    def test_boot_seconds_is_always_required(self):
        v = verdict(GOOD_CONSOLE.replace("BERTH-VM: demo boot_seconds=2.41\n", ""))
        self.assertIn("value boot_seconds: no marker", v.failures)

    def test_fail_marker_fails_even_beside_a_pass(self):
        v = verdict(GOOD_CONSOLE + "BERTH-VM: demo alpha FAIL came back wrong\n")
        self.assertFalse(v.ok)
        self.assertIn("check alpha FAIL came back wrong", v.failures)

    def test_unexpected_check_failing_fails(self):
        v = verdict(GOOD_CONSOLE + "BERTH-VM: demo cleanup FAIL rmdir\n")
        self.assertFalse(v.ok)

    def test_kernel_panic_fails(self):
        panic = GOOD_CONSOLE.replace(
            "[    4.1] reboot: Power down",
            "[    3.2] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100")
        v = verdict(panic, reason="guest-reset")
        self.assertFalse(v.ok)
        self.assertTrue(any(f.startswith("kernel panic:") for f in v.failures), v.failures)

    def test_missing_done_fails(self):
        v = verdict(GOOD_CONSOLE.replace("BERTH-VM: demo DONE\r\n", ""))
        self.assertIn("no DONE marker", v.failures)

    def test_timeout_fails(self):
        v = verdict(GOOD_CONSOLE, exit_code=None, reason=None, timed_out=True)
        self.assertIn("timeout after 30 s (QEMU killed)", v.failures)

    def test_qemu_exit_status_must_be_zero(self):
        v = verdict(GOOD_CONSOLE, exit_code=1)
        self.assertIn("QEMU exit status 1, expected 0", v.failures)

    def test_reboot_where_poweroff_is_expected_fails(self):
        v = verdict(GOOD_CONSOLE, reason="guest-reset")
        self.assertFalse(v.ok)
        self.assertTrue(any("guest ended with reboot" in f for f in v.failures), v.failures)

    def test_reboot_expected_and_seen_passes(self):
        v = verdict(GOOD_CONSOLE, EXPECT + "shutdown reboot\n", reason="guest-reset")
        self.assertTrue(v.ok, v.failures)

    def test_ending_falls_back_to_the_console_without_qmp(self):
        v = verdict(GOOD_CONSOLE, reason=None)
        self.assertTrue(v.ok, v.failures)
        self.assertTrue(any("no QMP SHUTDOWN event" in w for w in v.warnings))
        restarted = GOOD_CONSOLE.replace("Power down", "Restarting system")
        self.assertFalse(verdict(restarted, reason=None).ok)

    def test_marker_after_kernel_text_on_the_same_line_counts(self):
        console = GOOD_CONSOLE.replace(
            "BERTH-VM: demo alpha PASS",
            "[    3.0] oom-kill:constraint=CONBERTH-VM: demo alpha PASS")
        self.assertTrue(verdict(console).ok)

    def test_markers_port_and_console_are_merged_without_duplicates(self):
        only_port = "BERTH-VM: demo alpha PASS\nBERTH-VM: demo DONE\n"
        console = GOOD_CONSOLE.replace("BERTH-VM: demo alpha PASS\n", "").replace(
            "BERTH-VM: demo DONE\r\n", "")
        v = verdict(console, markers_text=only_port + only_port)
        self.assertTrue(v.ok, v.failures)
        self.assertEqual(v.report.checks["alpha"], [("PASS", "")])

    def test_markers_of_another_scenario_do_not_count(self):
        console = GOOD_CONSOLE.replace("BERTH-VM: demo beta PASS", "BERTH-VM: other beta PASS")
        v = verdict(console)
        self.assertFalse(v.ok)
        self.assertTrue(any("another scenario" in w for w in v.warnings))

    def test_value_runs_to_the_end_of_the_line(self):
        v = verdict(GOOD_CONSOLE + "BERTH-VM: demo memory_events=oom 1 oom_kill 1\n")
        self.assertEqual(v.report.values["memory_events"], "oom 1 oom_kill 1")

    def test_kernel_warnings_are_reported_not_failed(self):
        v = verdict(GOOD_CONSOLE + "[ 2.0] INFO: task sync:77 blocked for more than 15 seconds.\n")
        self.assertTrue(v.ok)
        self.assertTrue(any("blocked for more than" in w for w in v.warnings))


class BerthctlNeedTest(unittest.TestCase):
    EXPECT = EXPECT + "pass status needs berthctl\n"

    def test_check_that_needs_a_missing_binary_is_skipped(self):
        v = verdict(GOOD_CONSOLE + "BERTH-VM: demo status SKIP no /usr/bin/berthctl\n",
                    self.EXPECT)
        self.assertTrue(v.ok, v.failures)
        self.assertEqual(v.skipped, ["status: needs berthctl, which the guest lacks (the "
                                     "probe: no /usr/bin/berthctl)"])

    def test_check_that_needs_a_present_binary_must_pass(self):
        v = verdict(GOOD_CONSOLE + "BERTH-VM: demo status SKIP no /usr/bin/berthctl\n",
                    self.EXPECT, present=("berth", "berthctl"))
        self.assertIn("check status: no PASS marker", v.failures)
        ok = verdict(GOOD_CONSOLE + "BERTH-VM: demo status PASS\n", self.EXPECT,
                     present=("berthctl",))
        self.assertTrue(ok.ok, ok.failures)

    def test_a_skip_never_covers_a_fail(self):
        v = verdict(GOOD_CONSOLE + "BERTH-VM: demo status FAIL wrong\n", self.EXPECT)
        self.assertIn("check status FAIL wrong", v.failures)

    def test_a_skip_of_an_unlisted_check_is_listed(self):
        v = verdict(GOOD_CONSOLE + "BERTH-VM: demo extra SKIP needs a disk\n")
        self.assertTrue(v.ok, v.failures)
        self.assertEqual(v.skipped, ["extra: needs a disk"])


class ConsoleTest(unittest.TestCase):
    def test_console_check_passes_with_the_matching_line(self):
        v = verdict(BERTH_CONSOLE, EXPECT + "console oom  service hog/0: .*after OOM kill; "
                    "restarting\n")
        self.assertTrue(v.ok, v.failures)
        status, detail = v.report.checks["oom"][0]
        self.assertEqual(status, "PASS")
        self.assertIn("12:13:00.199 info  supervisor: service hog/0: killed", detail)

    def test_console_check_without_a_match_fails(self):
        v = verdict(BERTH_CONSOLE, EXPECT + "console cad rebooting\n")
        self.assertIn("check cad FAIL no console line matches /rebooting/", v.failures)

    def test_runs_of_spaces_in_the_pattern_are_kept(self):
        self.assertTrue(verdict(BERTH_CONSOLE, EXPECT + "console r info  supervisor\n").ok)
        self.assertFalse(verdict(BERTH_CONSOLE, EXPECT + "console r info supervisor\n").ok)

    def test_console_not_fails_on_a_match_and_ignores_markers(self):
        v = verdict(BERTH_CONSOLE, EXPECT + "console-not calm invoked oom-killer\n")
        self.assertTrue(any(f.startswith("check calm FAIL console: [    3.9] hog invoked")
                            for f in v.failures), v.failures)
        # "shutdown_timeout reached" is only in a marker line: not PID 1's log.
        quiet = verdict(BERTH_CONSOLE, EXPECT + "console-not clean shutdown_timeout reached\n")
        self.assertTrue(quiet.ok, quiet.failures)

    def test_console_uptime_uses_the_last_match_and_the_clock_offset(self):
        v = verdict(BERTH_CONSOLE, EXPECT + "console-uptime ready_at supervisor: service "
                    "\\S+: ready pid=\n")
        self.assertTrue(v.ok, v.failures)
        # 12:12:59.532 UTC is 1796299979.532; minus the offset 1796299975.500.
        self.assertEqual(v.report.values["ready_at"], "4.03")

    def test_console_uptime_needs_a_match_and_the_offset(self):
        v = verdict(BERTH_CONSOLE, EXPECT + "console-uptime gone never logged\n")
        self.assertIn("value gone: no console line matches /never logged/", v.failures)
        no_offset = BERTH_CONSOLE.replace("BERTH-VM: demo clock_offset=1796299975.500\n", "")
        v = verdict(no_offset, EXPECT + "console-uptime r ready pid=\n")
        self.assertTrue(any("no clock_offset marker" in f for f in v.failures), v.failures)

    def test_console_gap_measures_from_the_first_match_to_the_next_later_match(self):
        # hog/0 starting (58.931) to the first "ready" after it: hog/0's at 59.031.
        v = verdict(BERTH_CONSOLE, EXPECT + "console-gap up 0.05 0.2 hog/0: starting => "
                    ": ready pid=\n")
        self.assertTrue(v.ok, v.failures)
        self.assertEqual(v.report.values["up"], "0.100")
        self.assertEqual(v.report.checks["up"], [("PASS", "0.100 s, expected 0.05-0.2 s")])

    def test_console_gap_outside_its_range_or_unmatched_fails(self):
        v = verdict(BERTH_CONSOLE, EXPECT + "console-gap slow 0 0.4 hog/0: ready => idle/0\n")
        self.assertIn("check slow FAIL 0.501 s, expected 0-0.4 s", v.failures)
        self.assertEqual(v.report.values["slow"], "0.501")
        v = verdict(BERTH_CONSOLE, EXPECT + "console-gap later 0 9 idle/0: ready => starting pid\n")
        self.assertTrue(any(f.startswith("check later FAIL no console line after") for f in
                            v.failures), v.failures)
        v = verdict(BERTH_CONSOLE, EXPECT + "console-gap none 0 9 never => hog/0\n")
        self.assertIn("check none FAIL no console line matches /never/", v.failures)

    def test_bad_regex_names_the_line(self):
        with self.assertRaisesRegex(markers.ExpectError, r"e:1: .*bad regular expression"):
            markers.parse_expect("console x (", "e")


class ExpectTest(unittest.TestCase):
    def test_defaults(self):
        e = markers.parse_expect("")
        self.assertEqual((e.timeout, e.shutdown, e.memory, e.smp, e.berth, e.root),
                         (markers.DEFAULT_TIMEOUT, "poweroff", 1024, 2, None, "tmpfs"))
        self.assertEqual(e.values, ["boot_seconds"])

    def test_directives(self):
        e = markers.parse_expect("pass a\npass b\ntimeout 9\nshutdown reboot\nmemory 512\nsmp 1\n"
                                 "module overlay\nmodule loop\nberth stand-in\nroot rootfs\n"
                                 "pristine\npid1 /usr/bin/berth --pid1 x\n")
        self.assertEqual(e.passes, ["a", "b"])
        self.assertEqual((e.timeout, e.shutdown, e.memory, e.smp), (9, "reboot", 512, 1))
        self.assertEqual(e.modules, ["overlay", "loop"])
        self.assertEqual((e.berth, e.root, e.pristine), ("stand-in", "rootfs", True))
        self.assertEqual(e.pid1, ["/usr/bin/berth", "--pid1", "x"])

    def test_errors_name_the_line(self):
        for text in ("bogus thing", "shutdown halt", "timeout soon", "pass", "pass a b",
                     "pass a needs", "console onlyname", "console-uptime",
                     "console-gap g 0 1 no arrow", "console-gap g 2 1 a => b",
                     "console-gap g x 1 a => b", "console-gap g 0 1 ( => b"):
            with self.subTest(text=text), self.assertRaisesRegex(markers.ExpectError, r"e:1: "):
                markers.parse_expect(text, "e")


MULTI_BOOT = """
boots 2
disk 16M /var/lib/berth/
pass common
boot 1 pass first_only
boot 2 pass second_only
boot 2 console said   hello  world
boot 2 shutdown reboot
same line
"""


class MultiBootTest(unittest.TestCase):
    def test_directives(self):
        e = markers.parse_expect(MULTI_BOOT)
        self.assertEqual(e.boots, 2)
        self.assertEqual(e.disk, markers.Disk(16 << 20, "/var/lib/berth"))
        self.assertEqual(e.passes, ["common"])
        self.assertEqual(e.same, ["line"])
        self.assertIn("line", e.values)

    def test_each_boot_adds_its_own_lines_to_the_common_ones(self):
        e = markers.parse_expect(MULTI_BOOT)
        one, two = markers.for_boot(e, 1), markers.for_boot(e, 2)
        self.assertEqual(one.passes, ["common", "first_only"])
        self.assertEqual((one.shutdown, one.console), ("poweroff", []))
        self.assertEqual(two.passes, ["common", "second_only"])
        self.assertEqual(two.shutdown, "reboot")
        self.assertEqual(two.console[0].pattern.pattern, "hello  world")
        self.assertEqual(e.passes, ["common"])  # the scenario's own Expect is not changed

    def test_a_boot_is_judged_by_its_own_lines(self):
        e = markers.parse_expect(MULTI_BOOT)
        console = ("BERTH-VM: demo boot_seconds=1\nBERTH-VM: demo line=x\n"
                   "BERTH-VM: demo common PASS\nBERTH-VM: demo first_only PASS\n"
                   "BERTH-VM: demo DONE\n")
        ok = markers.judge("demo", markers.for_boot(e, 1), console, "", 0, "guest-shutdown")
        self.assertTrue(ok.ok, ok.failures)
        bad = markers.judge("demo", markers.for_boot(e, 2), console, "", 0, "guest-reset")
        self.assertFalse(bad.ok)
        self.assertIn("check second_only: no PASS marker", bad.failures)

    def test_same_values_must_match_in_every_boot(self):
        e = markers.parse_expect(MULTI_BOOT)
        def report(**values):
            return markers.Report(values=values)
        self.assertEqual(markers.judge_same(e, [report(line="a b"), report(line="a b")]), [])
        self.assertEqual(markers.judge_same(e, [report(line="a"), report(line="b")]),
                         ["value line: not the same in every boot (boot 1: a, boot 2: b)"])
        self.assertEqual(markers.judge_same(e, [report(line="a"), report()]),
                         ["value line: not the same in every boot (boot 1: a, boot 2: (none))"])

    def test_sizes(self):
        self.assertEqual([markers.parse_size(t) for t in ("65536", "4K", "32M", "1G")],
                         [65536, 4096, 32 << 20, 1 << 30])
        for text in ("32MB", "-1", "M", "1.5M"):
            with self.subTest(text=text), self.assertRaises(ValueError):
                markers.parse_size(text)

    def test_errors_name_the_line(self):
        for text in ("boots 0", "boots two", "boot 2 pass a", "boots 2\nboot 0 pass a",
                     "boots 2\nboot 1 timeout 5", "boots 2\nboot 1", "boots 2\nboot 1 pass",
                     "disk 16M", "disk 4M /var", "disk 16M var", "disk 16M /", "disk 1X /var",
                     "same", "same a b"):
            with self.subTest(text=text), self.assertRaisesRegex(markers.ExpectError, r"e:\d: "):
                markers.parse_expect(text, "e")


class DiskTest(unittest.TestCase):
    def test_make_disk_writes_an_ext4_image_of_the_size(self):
        if image.shutil.which("mkfs.ext4") is None and not pathlib.Path("/sbin/mkfs.ext4").exists():
            self.skipTest("needs mkfs.ext4 (e2fsprogs, in scripts/setup.sh)")
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "disk.img"
            image.make_disk(path, 8 << 20)
            self.assertEqual(path.stat().st_size, 8 << 20)
            with open(path, "rb") as f:
                f.seek(1024 + 0x38)  # the superblock's s_magic
                self.assertEqual(f.read(2), b"\x53\xef")
                f.seek(1024 + 0x78)  # s_volume_name
                self.assertEqual(f.read(16).rstrip(b"\0"), image.DISK_LABEL.encode())

    def test_qemu_attaches_the_disk_as_virtio(self):
        argv = qemu.command("vmlinuz", "initrd", "c.log", "m.log", "q.sock", 512, 1, "tcg", "",
                            "/tmp/a,b/disk.img")
        self.assertEqual(argv[0], qemu.QEMU)
        at = argv.index("-drive")
        self.assertEqual(argv[at + 1], "file=/tmp/a,,b/disk.img,format=raw,if=virtio")
        self.assertNotIn("-drive", qemu.command("v", "i", "c", "m", "q", 512, 1, "tcg", ""))


class ScenarioTest(unittest.TestCase):
    def make(self, files):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        directory = pathlib.Path(tmp.name) / "demo"
        directory.mkdir()
        for name, text in files.items():
            (directory / name).write_text(text)
        return directory

    def test_script_scenario(self):
        s = scenario.load(self.make({"expect": "pass a\n", "init.sh": "vm_done\n"}))
        self.assertEqual(s.name, "demo")
        self.assertFalse(s.needs_berth)
        self.assertEqual(s.berth, "none")
        self.assertEqual(s.pid1, ["/bin/sh", "/etc/berth-vm/scenario/init.sh"])

    def test_berth_scenario(self):
        s = scenario.load(self.make({"expect": "", "berth.toml": "", "probe.sh": ""}))
        self.assertTrue(s.needs_berth)
        self.assertEqual(s.berth, "build")
        self.assertEqual(s.pid1, scenario.BERTH_PID1)
        self.assertEqual(s.probe.name, "probe.sh")

    def test_script_scenario_may_ask_for_berth(self):
        s = scenario.load(self.make({"expect": "berth build\n", "init.sh": ""}))
        self.assertEqual(s.berth, "build")

    def test_needs_exactly_one_pid1_kind(self):
        for files in ({"expect": ""}, {"expect": "", "init.sh": "", "berth.toml": ""}):
            with self.subTest(files=sorted(files)), self.assertRaises(scenario.ScenarioError):
                scenario.load(self.make(files))

    def test_needs_an_expect_file(self):
        with self.assertRaises(scenario.ScenarioError):
            scenario.load(self.make({"init.sh": ""}))


def read_newc(path):
    """A minimal newc reader: [(name, mode, ino, nlink, data, (rdevmajor, rdevminor))]."""
    blob = gzip.decompress(pathlib.Path(path).read_bytes())
    entries, offset = [], 0
    while True:
        assert blob[offset:offset + 6] == b"070701", offset
        fields = [int(blob[offset + 6 + 8 * i:offset + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = fields[11], fields[6]
        name_at = offset + 110
        name = blob[name_at:name_at + namesize - 1].decode()
        data_at = (name_at + namesize + 3) & ~3
        data = blob[data_at:data_at + filesize]
        offset = (data_at + filesize + 3) & ~3
        if name == "TRAILER!!!":
            return entries
        entries.append((name, fields[1], fields[0], fields[4], data, (fields[9], fields[10])))


class CpioTest(unittest.TestCase):
    def test_round_trip(self):
        with tempfile.TemporaryDirectory() as tmp:
            source = pathlib.Path(tmp) / "program"
            source.write_bytes(b"\x7fELF payload")
            source.chmod(0o755)
            m = cpio.Manifest()
            m.add_file("/bin/prog", source)
            m.add_hardlink("/layer/bin/prog", "/bin/prog")
            m.add_symlink("/bin/sh", "/bin/prog")
            m.add_bytes("/etc/odd", b"abc", 0o600)
            m.add_char_device("/dev/console", 5, 1)
            m.add_dir("/tmp", 0o1777)
            out = pathlib.Path(tmp) / "initrd.cpio.gz"
            m.write(out)
            entries = read_newc(out)
        names = [e[0] for e in entries]
        self.assertEqual(names[0], ".")
        for i, name in enumerate(names):  # every parent before its children
            parent = str(pathlib.PurePosixPath(name).parent)
            if parent != ".":
                self.assertIn(parent, names[:i], name)
        by_name = {e[0]: e for e in entries}
        prog, link = by_name["bin/prog"], by_name["layer/bin/prog"]
        self.assertEqual(prog[4], b"\x7fELF payload")
        self.assertEqual(stat.S_IMODE(prog[1]), 0o755)
        self.assertEqual((link[2], link[3], link[4]), (prog[2], 2, b""))  # same inode, no data
        self.assertEqual(prog[3], 2)
        self.assertTrue(stat.S_ISLNK(by_name["bin/sh"][1]))
        self.assertEqual(by_name["bin/sh"][4], b"/bin/prog")
        self.assertEqual(by_name["etc/odd"][4], b"abc")
        self.assertEqual(stat.S_IMODE(by_name["etc/odd"][1]), 0o600)
        self.assertTrue(stat.S_ISCHR(by_name["dev/console"][1]))
        self.assertEqual(by_name["dev/console"][5], (5, 1))
        self.assertEqual(stat.S_IMODE(by_name["tmp"][1]), 0o1777)


if __name__ == "__main__":
    unittest.main()
