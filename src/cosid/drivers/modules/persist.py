"""The files that make cosid's modules load at boot, before cosid starts (the config's
`domains.modules.persist`).

- ``<root>/etc/modules-load.d/cosid.conf``: a name per line. systemd-modules-load (and
  Debian's kmod init script) loads each at boot through libkmod, as modprobe would:
  dependencies, aliases and blacklists included.
- ``<root>/etc/modprobe.d/cosid.conf``: an ``options <name> name=value ...`` line per module
  with parameters, under the name it is loaded by (the module's own, or an alias): libkmod
  gives a module the options of its own name and of the alias it was asked for, so they apply
  whenever it is loaded that way, at boot or later.

Each file is rewritten whole from the full set it is given, atomically and without following a
symlink below the root prefix (`files.put`), so a reader (or a crash) sees the old file or the
new one, never a mix. Nothing to say removes the file. Names and parameters are checked by the
resource models' rules before anything is touched, so no value can add a line.

Writing syncs to disk (milliseconds): from the event loop, call it in a thread.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Final

from cosid.drivers import files
from cosid.resources.modules import (
    KernelModuleSpec,
    parameter_string,
    parse_name,
    parse_parameters,
)

FILE_NAME: Final = "cosid.conf"
HEADER: Final = "# Written by cosid from its kernel module specs; edits here are overwritten.\n"


class ModuleBootFiles:
    """``<root>/etc/modules-load.d/cosid.conf`` and ``<root>/etc/modprobe.d/cosid.conf``."""

    def __init__(self, root: Path = Path("/")) -> None:
        etc = Path(os.path.realpath(root), "etc")  # nothing below the root prefix is followed
        self.modules_load = etc / "modules-load.d" / FILE_NAME
        self.modprobe = etc / "modprobe.d" / FILE_NAME

    @property
    def paths(self) -> tuple[Path, Path]:
        return (self.modules_load, self.modprobe)

    def hold(self, specs: Sequence[KernelModuleSpec]) -> bool:
        """Make the files load every spec's module with its parameters (none: no files); True
        if that changed either. For `BootFilesController`.

        The options go under the spec's name, the name the boot loads the module by."""
        return self.write(
            [spec.name for spec in specs], {spec.name: spec.parameters for spec in specs}
        )

    def write(self, load: Collection[str], options: Mapping[str, Mapping[str, str]]) -> bool:
        """Make the files load the modules (or aliases) `load` and give `options` (module ->
        parameters); True if that changed either. Raises ValueError for a bad name or
        parameter before touching anything."""
        names = sorted({parse_name(name) for name in load})
        lines = {parse_name(module): parse_parameters(values) for module, values in options.items()}
        options_text = "".join(
            f"options {module} {parameter_string(values)}\n"
            for module, values in sorted(lines.items())
            if values
        )
        loads = "".join(f"{name}\n" for name in names)
        changed = files.put(self.modules_load, _content(loads))
        return files.put(self.modprobe, _content(options_text)) or changed


def _content(lines: str) -> bytes | None:
    """A file's content: the header and `lines`; None (no file) when there are none."""
    return (HEADER + lines).encode() if lines else None
