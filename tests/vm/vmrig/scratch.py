"""Temporary directories of the rig, named after the driver's pid so a later run can sweep them.

A driver killed by SIGKILL (ctest's timeout, a user) cannot remove its own; QEMU dies with it
(PR_SET_PDEATHSIG), and the next driver removes every directory whose pid is gone.
"""

import os
import pathlib
import shutil
import tempfile

PREFIX = "berth-vm."


def directory(name):
    """A TemporaryDirectory context for `name`, removed when the context ends."""
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}.{name}.")


def sweep_stale():
    """Removes the rig's temporary directories left by drivers that no longer run."""
    for path in pathlib.Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        pid = path.name[len(PREFIX):].split(".", 1)[0]
        if pid.isdigit() and not pathlib.Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)
