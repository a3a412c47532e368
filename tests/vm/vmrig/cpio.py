"""A newc ("070701") cpio writer for initramfs images, built from an in-memory manifest.

Every entry is owned by root (uid/gid 0) with mtime 0, whoever runs the rig, and device nodes need
no mknod privilege: the kernel's unpacker (init/initramfs.c) creates them. Parents are added before
their children, as the unpacker requires. Hard links share an inode number; the data travels with
the first entry of the group and the others have size 0, which the unpacker links to the first.
"""

import gzip
import os
import pathlib
import stat

_ALIGN = 4


class Manifest:
    """Files of an initramfs by their absolute path inside the guest."""

    def __init__(self):
        self._entries = {}  # guest path -> (mode, kind, payload)
        self._add("/", stat.S_IFDIR | 0o755, "dir", None)

    def __contains__(self, path):
        return _norm(path) in self._entries

    def paths(self):
        return list(self._entries)

    def add_dir(self, path, mode=0o755):
        path = _norm(path)
        if path in self._entries:
            return
        self.add_dir(str(pathlib.PurePosixPath(path).parent), mode)
        self._add(path, stat.S_IFDIR | mode, "dir", None)

    def add_bytes(self, path, data, mode=0o644):
        self._add_leaf(path, stat.S_IFREG | mode, "bytes", bytes(data))

    def add_file(self, path, source, mode=None):
        """Copies `source` (symlinks followed) at run time of write(); mode defaults to source's."""
        source = pathlib.Path(source)
        st = source.stat()
        self._add_leaf(path, stat.S_IFREG | (stat.S_IMODE(st.st_mode) if mode is None else mode),
                       "file", source)

    def add_symlink(self, path, target):
        self._add_leaf(path, stat.S_IFLNK | 0o777, "symlink", str(target))

    def add_hardlink(self, path, existing):
        existing = _norm(existing)
        if self._entries.get(existing, (0, None))[1] not in ("file", "bytes"):
            raise ValueError(f"initramfs: hard link '{path}': '{existing}' is not a regular file")
        self._add_leaf(path, self._entries[existing][0], "link", existing)

    def add_char_device(self, path, major, minor, mode=0o600):
        self._add_leaf(path, stat.S_IFCHR | mode, "chr", (major, minor))

    def add_tree(self, guest_dir, host_dir):
        """Copies a host directory tree (files, dirs, symlinks as they are) under guest_dir."""
        host_dir = pathlib.Path(host_dir)
        for root, dirs, files in os.walk(host_dir):
            dirs.sort()
            rel = pathlib.Path(root).relative_to(host_dir)
            base = pathlib.PurePosixPath(guest_dir) / rel
            self.add_dir(str(base), stat.S_IMODE(os.stat(root).st_mode))
            for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                host = pathlib.Path(root) / name
                if host.is_symlink():
                    self.add_symlink(str(base / name), os.readlink(host))
                else:
                    self.add_file(str(base / name), host)

    def _add_leaf(self, path, mode, kind, payload):
        path = _norm(path)
        self.add_dir(str(pathlib.PurePosixPath(path).parent))
        self._entries.pop(path, None)  # a later add replaces an earlier one
        self._add(path, mode, kind, payload)

    def _add(self, path, mode, kind, payload):
        self._entries[path] = (mode, kind, payload)

    def write(self, out_path, compresslevel=6):
        """Writes the archive gzip-compressed to out_path; returns the uncompressed size."""
        links = {}  # first path of a hard-link group -> number of names
        for path, (_, kind, payload) in self._entries.items():
            if kind == "link":
                links[payload] = links.get(payload, 1) + 1
        inode_of = {}
        written = 0
        with gzip.open(out_path, "wb", compresslevel=compresslevel) as out:
            for ino, (path, (mode, kind, payload)) in enumerate(self._entries.items(), start=1):
                name = "." if path == "/" else path.lstrip("/")
                nlink, rdev, data = 1, (0, 0), b""
                if kind == "dir":
                    nlink = 2
                elif kind == "bytes":
                    data = payload
                elif kind == "file":
                    data = payload.read_bytes()
                elif kind == "symlink":
                    data = payload.encode()
                elif kind == "chr":
                    rdev = payload
                if kind == "link":
                    if payload not in inode_of:
                        raise ValueError(f"initramfs: hard link '{path}': '{payload}' was "
                                         "replaced after the link was added")
                    ino = inode_of[payload]
                    nlink = links[payload]
                elif path in links:
                    nlink = links[path]
                inode_of[path] = ino
                written += _write_entry(out, name, ino, mode, nlink, data, rdev)
            written += _write_entry(out, "TRAILER!!!", 0, 0, 1, b"", (0, 0))
        return written


def _norm(path):
    return str(pathlib.PurePosixPath("/") / pathlib.PurePosixPath(path))


def _pad(n):
    return b"\0" * ((_ALIGN - n % _ALIGN) % _ALIGN)


def _write_entry(out, name, ino, mode, nlink, data, rdev):
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    header = b"070701" + b"".join(b"%08x" % f for f in fields)
    chunk = header + encoded + _pad(len(header) + len(encoded)) + data + _pad(len(data))
    out.write(chunk)
    return len(chunk)
