"""A scenario directory: its expect file, its kind (a script PID 1 or berth) and its files.

    scenarios/<name>/expect      required: the markers that must come back, and boot settings
    scenarios/<name>/init.sh     a script scenario: PID 1 is `/bin/sh init.sh`
    scenarios/<name>/berth.toml  a berth scenario: PID 1 is berth with this fleet file
    scenarios/<name>/probe.sh    optional: started beside PID 1 (berth scenarios' checks)
    scenarios/<name>/rootfs/     optional: copied over the guest's root as it is
Any other file in the directory lands in /etc/berth-vm/scenario/ too.
"""

import dataclasses
import pathlib

from . import markers

BERTH_PID1 = ["/usr/bin/berth", "run", "/etc/berth/berth.toml"]


class ScenarioError(Exception):
    """A scenario directory that breaks the layout above; the text names it."""


@dataclasses.dataclass
class Scenario:
    name: str
    directory: pathlib.Path
    expect: markers.Expect
    pid1: list
    init_sh: pathlib.Path | None
    berth_toml: pathlib.Path | None
    probe: pathlib.Path | None
    rootfs: pathlib.Path | None

    @property
    def needs_berth(self):
        return self.berth_toml is not None

    @property
    def berth(self):
        """build, stand-in or none: which berth binaries the guest gets (expect's 'berth')."""
        return self.expect.berth or ("build" if self.needs_berth else "none")


def load(directory):
    directory = pathlib.Path(directory).resolve()
    name = directory.name
    expect_file = directory / "expect"
    if not expect_file.is_file():
        raise ScenarioError(f"scenario '{directory}': no expect file")
    expect = markers.parse_expect(expect_file.read_text(), str(expect_file))

    def optional(filename):
        path = directory / filename
        return path if path.exists() else None

    init_sh, berth_toml = optional("init.sh"), optional("berth.toml")
    if (init_sh is None) == (berth_toml is None):
        raise ScenarioError(f"scenario '{directory}': needs exactly one of init.sh and berth.toml")
    pid1 = expect.pid1 or (["/bin/sh", "/etc/berth-vm/scenario/init.sh"] if init_sh else
                           BERTH_PID1)
    rootfs = optional("rootfs")
    if rootfs is not None and not rootfs.is_dir():
        raise ScenarioError(f"scenario '{directory}': 'rootfs' is not a directory")
    return Scenario(name, directory, expect, pid1, init_sh, berth_toml, optional("probe.sh"),
                    rootfs)
