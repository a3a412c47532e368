"""The guest kernel: Debian's cloud kernel package, fetched and unpacked in a cache, not installed.

Contract: prepare() returns a Kernel whose vmlinuz and modules tree exist. The cache lives outside
the source tree (default /var/cache/berth-vm, overridden by BERTH_VM_CACHE) and is keyed by the
package name and version, so a warm cache costs no download and no unpacking. Concurrent callers
(ctest -j) serialize on a lock file in the cache.
"""

import dataclasses
import fcntl
import gzip
import hashlib
import json
import lzma
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

METAPACKAGE = "linux-image-cloud-amd64"
DEFAULT_CACHE = "/var/cache/berth-vm"
COMPLETE_STAMP = ".complete"
APT_LISTS = pathlib.Path("/var/lib/apt/lists")
APT_ETC = pathlib.Path("/etc/apt")
MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")


class KernelError(Exception):
    """The kernel could not be found, fetched or unpacked; the text says which step failed."""


@dataclasses.dataclass(frozen=True)
class Kernel:
    package: str  # e.g. linux-image-6.1.0-57-cloud-amd64
    version: str  # the package version, e.g. 6.1.192-3
    release: str  # uname -r of the guest, e.g. 6.1.0-57-cloud-amd64
    root: pathlib.Path  # the unpacked package
    vmlinuz: pathlib.Path
    modules_dir: pathlib.Path  # <root>/lib/modules/<release>

    def module_chain(self, name):
        """Paths (relative to modules_dir) of module `name` and its dependencies, load order."""
        deps = _read_modules_dep(self.modules_dir / "modules.dep")
        by_name = {_module_name(path): path for path in deps}
        wanted = _module_name(name)
        if wanted not in by_name:
            raise KernelError(f"kernel {self.release}: module '{name}': not in modules.dep "
                              "(built in, or not shipped by this kernel)")
        order = []
        _visit(by_name[wanted], deps, order, set())
        return order


def cache_dir():
    return pathlib.Path(os.environ.get("BERTH_VM_CACHE", DEFAULT_CACHE))


def prepare(log=print):
    """Returns the cached kernel, fetching and unpacking it first when the cache lacks it."""
    cache = cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise KernelError(f"kernel cache '{cache}': create: {e.strerror}") from e
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            package, version = _resolve_package_memoized(cache)
        except KernelError as e:
            cached = _newest_complete_entry(cache)
            if cached is None:
                raise
            log(f"berth-vm: {e}; using the cached {cached.name}")
            return _load(cached)
        entry = cache / f"{package}_{version}"
        if not (entry / COMPLETE_STAMP).exists():
            _fetch_and_unpack(package, version, entry, log)
        return _load(entry)


def _run(argv, what, cwd=None):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    except OSError as e:
        raise KernelError(f"{what}: run '{argv[0]}': {e.strerror}") from e
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise KernelError(f"{what}: '{' '.join(argv)}' exited {done.returncode}: "
                          f"{detail[-1] if detail else 'no output'}")
    return done.stdout


def _apt_fingerprint():
    """Changes whenever apt's view of the candidate may: package lists, sources, preferences."""
    parts = []
    for directory in (APT_LISTS, APT_ETC, APT_ETC / "preferences.d", APT_ETC / "sources.list.d"):
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for path in entries:
            if path.is_file():
                st = path.stat()
                parts.append(f"{path} {st.st_mtime_ns} {st.st_size}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _resolve_package_memoized(cache):
    """_resolve_package(), remembered per apt fingerprint: each apt-cache call here parses the
    package lists (no pkgcache.bin), about a second apiece, and every scenario asks again."""
    memo = cache / "resolved.json"
    fingerprint = _apt_fingerprint()
    try:
        saved = json.loads(memo.read_text())
        if saved.get("fingerprint") == fingerprint:
            return saved["package"], saved["version"]
    except (OSError, ValueError, KeyError):
        pass
    package, version = _resolve_package()
    memo.write_text(json.dumps({"fingerprint": fingerprint, "package": package,
                                "version": version}) + "\n")
    return package, version


def _resolve_package():
    """The versioned image package the metapackage depends on now, and its candidate version."""
    out = _run(["apt-cache", "depends", METAPACKAGE], f"kernel: resolve '{METAPACKAGE}'")
    package = None
    for line in out.splitlines():
        m = re.match(r"\s*\|?Depends:\s*(linux-image-\S+)", line)
        if m:
            package = m.group(1)
            break
    if package is None:
        raise KernelError(f"kernel: resolve '{METAPACKAGE}': no linux-image dependency "
                          "(run 'apt-get update' first)")
    show = _run(["apt-cache", "show", "--no-all-versions", package], f"kernel: show '{package}'")
    m = re.search(r"^Version:\s*(\S+)", show, re.MULTILINE)
    if m is None:
        raise KernelError(f"kernel: show '{package}': no Version field")
    return package, m.group(1)


def _fetch_and_unpack(package, version, entry, log):
    log(f"berth-vm: fetching {package}={version} into '{entry}'")
    staging = pathlib.Path(tempfile.mkdtemp(prefix=entry.name + ".", dir=entry.parent))
    try:
        # apt-get download writes into its working directory. APT::Sandbox::User=root: the cache
        # is root's, and the _apt user could not write into it.
        _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", f"{package}={version}"],
             f"kernel: download '{package}={version}'", cwd=staging)
        debs = sorted(staging.glob("*.deb"))
        if len(debs) != 1:
            raise KernelError(f"kernel: download '{package}': expected one .deb in '{staging}', "
                              f"found {len(debs)}")
        root = staging / "root"
        _run(["dpkg-deb", "-x", str(debs[0]), str(root)], f"kernel: unpack '{debs[0].name}'")
        release = _release_of(root)
        modules = root / "lib" / "modules" / release
        if not (modules / "modules.dep").exists():
            # The package ships no modules.dep: its postinst runs depmod. Run it on the unpacked
            # tree instead (-b: a different root; nothing outside the cache is touched).
            _run(["depmod", "-b", str(root), release], f"kernel: depmod '{release}'")
        debs[0].unlink()  # the unpacked tree is all the rig reads
        (staging / COMPLETE_STAMP).write_text(f"{package} {version} {release}\n")
        if entry.exists():
            shutil.rmtree(entry)  # an earlier, interrupted attempt
        staging.rename(entry)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _release_of(root):
    releases = sorted(p.name for p in (root / "lib" / "modules").iterdir() if p.is_dir())
    if len(releases) != 1:
        raise KernelError(f"kernel: '{root}/lib/modules': expected one release, found {releases}")
    return releases[0]


def _newest_complete_entry(cache):
    entries = [p for p in cache.iterdir() if (p / COMPLETE_STAMP).exists()]
    return max(entries, key=lambda p: p.stat().st_mtime) if entries else None


def _load(entry):
    package, version, release = (entry / COMPLETE_STAMP).read_text().split()
    root = entry / "root"
    vmlinuz = root / "boot" / f"vmlinuz-{release}"
    if not vmlinuz.exists():
        raise KernelError(f"kernel: '{vmlinuz}': missing from the cache (remove '{entry}')")
    return Kernel(package, version, release, root, vmlinuz, root / "lib" / "modules" / release)


def _module_name(path):
    base = pathlib.PurePath(path).name
    for suffix in MODULE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def _read_modules_dep(path):
    deps = {}
    try:
        text = path.read_text()
    except OSError as e:
        raise KernelError(f"kernel: read '{path}': {e.strerror}") from e
    for line in text.splitlines():
        if ":" in line:
            module, rest = line.split(":", 1)
            deps[module.strip()] = rest.split()
    return deps


def _visit(module, deps, order, seen):
    if module in seen:
        return
    seen.add(module)
    for dep in deps.get(module, []):
        _visit(dep, deps, order, seen)
    order.append(module)


def decompressed_module(kernel, relpath):
    """The bytes of a module, decompressed on the host (busybox insmod may not handle .xz/.zst)."""
    src = kernel.modules_dir / relpath
    data = src.read_bytes()
    if relpath.endswith(".ko.xz"):
        return lzma.decompress(data)
    if relpath.endswith(".ko.gz"):
        return gzip.decompress(data)
    if relpath.endswith(".ko.zst"):
        # No zstd in Python's standard library: the zstd tool (package zstd, in setup.sh) does it.
        try:
            return subprocess.run(["zstd", "-dc", str(src)], capture_output=True,
                                  check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            raise KernelError(f"kernel: decompress '{src}': {e}") from e
    return data


def uncompressed_name(relpath):
    for suffix in (".xz", ".zst", ".gz"):
        if relpath.endswith(".ko" + suffix):
            return relpath[: -len(suffix)]
    return relpath
