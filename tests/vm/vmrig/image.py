"""The initramfs of a scenario: busybox, the rig's /init, modules, berth and the scenario's files.

Guest layout (docs/vm-tests.md has the full table):
    /init, /usr/lib/berth-vm/{stage2,lib.sh}  the rig's init stages and marker helpers
    /bin/busybox + applet links               the guest's userland
    /lib/modules/<release>/...                the modules /init loads, decompressed
    /var/lib/berth/layers/busybox             a busybox root filesystem, an image layer for berth,
                                              with the guest tools (berth-vm-forkbomb) in usr/bin
    /usr/bin/{berth,berth-shim,berthctl}      when given a berth build dir, with their libraries
    /etc/berth-vm/{env,modules}               what /init needs to know about the scenario
                                              (virtio_pci, virtio_blk too with a `disk`)
    /etc/berth-vm/scenario/                   the scenario's files; berth.toml also in /etc/berth/
"""

import pathlib
import re
import shlex
import shutil
import subprocess

from . import cpio, kernel as kernelmod

RIG_DIR = pathlib.Path(__file__).resolve().parent.parent
GUEST_DIR = RIG_DIR / "guest"
LAYER = "/var/lib/berth/layers/busybox"
BERTH_BINARIES = ("berth", "berth-shim", "berthctl")
# Static test programs built beside berth (tests/vm/guest_tools), copied into the busybox image.
GUEST_TOOLS = ("berth-vm-forkbomb",)
DEFAULT_MODULES = ("overlay",)
# A scenario's disk is virtio-blk on QEMU's PCI bus; ext4 is built into Debian's cloud kernel.
DISK_MODULES = ("virtio_pci", "virtio_blk")
DISK_LABEL = "berth-vm"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


class ImageError(Exception):
    """A file the initramfs needs is missing or unusable; the text names it."""


def busybox_path():
    for candidate in ("/bin/busybox", shutil.which("busybox")):
        if candidate and pathlib.Path(candidate).is_file():
            return pathlib.Path(candidate)
    raise ImageError("initramfs: busybox: not found (package busybox-static, in scripts/setup.sh)")


def base_manifest():
    """busybox with its applet links, the basic directories and device nodes, /etc basics."""
    manifest = cpio.Manifest()
    busybox = busybox_path()
    if shared_libraries(busybox):
        raise ImageError(f"initramfs: '{busybox}': dynamically linked; the rig needs "
                         "busybox-static")
    _add_busybox_root(manifest, "/", busybox)
    manifest.add_char_device("/dev/console", 5, 1)
    manifest.add_char_device("/dev/null", 1, 3, 0o666)
    for path in ("/proc", "/sys", "/run", "/mnt", "/var/lib/berth", "/root"):
        manifest.add_dir(path)
    return manifest


def _add_busybox_root(manifest, root, busybox, link_to=None):
    """A busybox root filesystem under `root`: the binary (or a hard link to `link_to`)."""
    root = pathlib.PurePosixPath(root)
    binary = str(root / "bin/busybox")
    if link_to is None:
        manifest.add_file(binary, busybox, 0o755)
    else:
        manifest.add_hardlink(binary, link_to)
    applets = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "linuxrc" and applet != "bin/busybox":
            manifest.add_symlink(str(root / applet), "/bin/busybox")
    for path in ("dev", "proc", "sys", "run", "etc", "root", "usr/sbin", "var"):
        manifest.add_dir(str(root / path))
    manifest.add_dir(str(root / "tmp"), 0o1777)
    manifest.add_bytes(str(root / "etc/passwd"), PASSWD.encode())
    manifest.add_bytes(str(root / "etc/group"), GROUP.encode())
    manifest.add_bytes(str(root / "etc/hostname"), b"berth-vm\n")


def shared_libraries(binary):
    """Absolute paths of the shared objects `binary` loads, the dynamic loader included."""
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    text = done.stdout + done.stderr
    if "not a dynamic executable" in text or "statically linked" in text:
        return []
    if done.returncode != 0:
        raise ImageError(f"initramfs: ldd '{binary}': exited {done.returncode}: {text.strip()}")
    libraries = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if "=> not found" in line:
            raise ImageError(f"initramfs: '{binary}': library {line.split()[0]} not found")
        m = re.match(r"(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)$", line)
        if m:
            libraries.append(m.group(1))
    return libraries


def add_binary(manifest, guest_path, host_path, workdir):
    """A program and every shared library it loads, each at the path the loader looks for. The
    program goes in without its debug sections (a copy in workdir): a RelWithDebInfo berth is
    about 28 MiB, most of it DWARF, and every MiB costs boot time under TCG."""
    stripped = pathlib.Path(workdir) / pathlib.PurePosixPath(guest_path).name
    done = subprocess.run(["strip", "--strip-debug", "-o", str(stripped), str(host_path)],
                          capture_output=True, text=True, check=False)
    manifest.add_file(guest_path, stripped if done.returncode == 0 else host_path, 0o755)
    for library in shared_libraries(host_path):
        if library not in manifest:
            manifest.add_file(library, library)  # pathlib follows the symlink to the real file


def build(kern, scenario, out_path, berth_dir=None):
    """Writes the scenario's initramfs to out_path (scratch files go beside it); returns a
    one-line summary of its contents and the names of the berth binaries it holds."""
    manifest = base_manifest()
    manifest.add_file("/init", GUEST_DIR / "init", 0o755)
    manifest.add_file("/usr/lib/berth-vm/stage2", GUEST_DIR / "stage2", 0o755)
    manifest.add_file("/usr/lib/berth-vm/lib.sh", GUEST_DIR / "lib.sh", 0o644)
    _add_busybox_root(manifest, LAYER, busybox_path(), link_to="/bin/busybox")

    names = list(scenario.expect.modules or DEFAULT_MODULES)
    if scenario.expect.disk is not None:
        names += [m for m in DISK_MODULES if m not in names]
    modules = _add_modules(manifest, kern, names)
    manifest.add_bytes("/etc/berth-vm/modules", "".join(m + "\n" for m in modules).encode())

    binaries = []
    if berth_dir is not None:
        for name in BERTH_BINARIES:
            host = pathlib.Path(berth_dir) / name
            if host.is_file():
                add_binary(manifest, f"/usr/bin/{name}", host, pathlib.Path(out_path).parent)
                binaries.append(name)
        for name in GUEST_TOOLS:
            host = pathlib.Path(berth_dir) / name
            if host.is_file():
                manifest.add_file(f"{LAYER}/usr/bin/{name}", host, 0o755)
    _add_scenario_files(manifest, scenario)
    manifest.add_bytes("/etc/berth-vm/env", _env(scenario, kern).encode())
    size = manifest.write(out_path, compresslevel=1)
    summary = (f"{len(manifest.paths())} entries, {size // 1024} KiB uncompressed, "
               f"{pathlib.Path(out_path).stat().st_size // 1024} KiB gzip; modules: "
               f"{' '.join(modules)}; berth binaries: {' '.join(binaries) or 'none'}")
    return summary, binaries


def _add_modules(manifest, kern, names):
    order = []
    for name in names:
        for relpath in kern.module_chain(name):
            if relpath not in order:
                order.append(relpath)
    guest_paths = []
    for relpath in order:
        plain = kernelmod.uncompressed_name(relpath)
        manifest.add_bytes(f"/lib/modules/{kern.release}/{plain}",
                           kernelmod.decompressed_module(kern, relpath))
        guest_paths.append(plain)
    return guest_paths


def _add_scenario_files(manifest, scenario):
    for path in sorted(scenario.directory.iterdir()):
        if path.is_file():
            manifest.add_file(f"/etc/berth-vm/scenario/{path.name}", path)
    if scenario.berth_toml is not None:
        manifest.add_file("/etc/berth/berth.toml", scenario.berth_toml, 0o644)
    if scenario.rootfs is not None:
        manifest.add_tree("/", scenario.rootfs)


def _env(scenario, kern):
    probe = f"/etc/berth-vm/scenario/{scenario.probe.name}" if scenario.probe else ""
    values = {
        "BERTH_VM_SCENARIO": scenario.name,
        "BERTH_VM_PID1": " ".join(shlex.quote(a) for a in scenario.pid1),
        "BERTH_VM_PROBE": probe,
        "BERTH_VM_ROOT": scenario.expect.root,
        "BERTH_VM_PRISTINE": "1" if scenario.expect.pristine else "0",
        "BERTH_VM_KERNEL_RELEASE": kern.release,
        "BERTH_VM_DISK_MOUNT": scenario.expect.disk.mount if scenario.expect.disk else "",
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def make_disk(path, size):
    """An empty ext4 filesystem of `size` bytes in the raw image `path` (mkfs.ext4 from
    e2fsprogs, in scripts/setup.sh): a scenario's persistent disk, made once for all its boots."""
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    try:
        with open(path, "wb") as f:
            f.truncate(size)
    except OSError as e:
        raise ImageError(f"disk '{path}': create: {e.strerror}") from e
    try:
        done = subprocess.run([mkfs, "-q", "-F", "-L", DISK_LABEL, str(path)],
                              capture_output=True, text=True, check=False)
    except OSError as e:
        raise ImageError(f"disk '{path}': run '{mkfs}' (package e2fsprogs): {e.strerror}") from e
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise ImageError(f"disk '{path}': {mkfs} exited {done.returncode}: "
                         f"{said[-1] if said else 'no output'}")


def probe_image(out_path, name):
    """A minimal initramfs whose /init reports DONE and powers off: the KVM usability probe."""
    manifest = base_manifest()
    script = (f"#!/bin/sh\necho 'BERTH-VM: {name} DONE' > /dev/console\n"
              "/bin/busybox poweroff -f\n")
    manifest.add_bytes("/init", script.encode(), 0o755)
    manifest.write(out_path, compresslevel=1)
