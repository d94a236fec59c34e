"""What the kernel shows of its modules: /proc/modules and /sys/module.

- /proc/modules has a line per loaded module: name, size, refcount (``-`` when the kernel
  cannot unload modules), the modules using it (``-`` for none), state (Live, Loading,
  Unloading) and address. The kernel has it only when it supports loadable modules, so its
  absence is how a kernel without module support is told apart.
- /sys/module/<name> exists for every loaded module, and for each built-in one that has
  parameters (or a version). Only loaded modules have ``initstate``, so a directory without
  it is a built-in module; modules.builtin names the built-in modules without a directory.
- /sys/module/<name>/parameters/<parameter> holds a parameter's value, for those the module
  lets be read.
- /sys/module/compression names the compression the kernel undoes itself (``xz``, ``zstd``,
  ``gzip``), when it can (CONFIG_MODULE_DECOMPRESS, Linux 5.17).

The reads take a root prefix of their own (``kernel``): "/" in the daemon, since these are the
kernel's files, not the node's; tests point it at a tree that plays a kernel with modules.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cosid.drivers.errors import describe_os_error
from cosid.drivers.modules.driver import ModuleInfo
from cosid.drivers.modules.files import read_bounded
from cosid.resources.modules import ModuleState

MAX_PROC_MODULES_BYTES: Final = 4 << 20
MAX_PARAMETER_BYTES: Final = 4096
_REFCOUNT: Final = re.compile(r"(?:-|[0-9]+)\Z")
_STATES: Final[dict[str, ModuleState]] = {
    "Live": "live",
    "Loading": "loading",
    "Unloading": "unloading",
}


@dataclass(frozen=True, slots=True)
class _Loaded:
    state: ModuleState
    refcount: int | None
    holders: tuple[str, ...]


class KernelView:
    """Reads /proc/modules and /sys/module under `kernel` (the real ones under "/").

    Every method raises ValueError, with a message naming the file, for a file that exists
    but cannot be read or understood.
    """

    def __init__(self, kernel: Path = Path("/")) -> None:
        resolved = os.path.realpath(kernel)
        self.proc_modules = os.path.join(resolved, "proc", "modules")
        self.sys_module = os.path.join(resolved, "sys", "module")

    def supports_modules(self) -> bool:
        """Whether the kernel can load modules at all (it has /proc/modules)."""
        return os.path.exists(self.proc_modules)

    def info(self, name: str, *, builtin: bool = False) -> ModuleInfo:
        """What the kernel has of `name`; `builtin` says modules.builtin lists it."""
        loaded = self._loaded().get(name)
        if loaded is not None:
            return ModuleInfo(
                name, loaded.state, loaded.refcount, loaded.holders, self._parameters(name)
            )
        if builtin or self.is_builtin(name):
            return ModuleInfo(name, "builtin", parameters=self._parameters(name))
        return ModuleInfo(name, "absent")

    def loaded(self) -> frozenset[str]:
        """The names of every loaded module (loading and unloading ones included)."""
        return frozenset(self._loaded())

    def is_builtin(self, name: str) -> bool:
        """Whether /sys/module shows `name` as built in (a directory without ``initstate``)."""
        directory = os.path.join(self.sys_module, name)
        try:
            if not stat.S_ISDIR(os.lstat(directory).st_mode):
                return False
        except FileNotFoundError:
            return False
        return not os.path.lexists(os.path.join(directory, "initstate"))

    def compression(self) -> str | None:
        """The compression the kernel undoes itself; None when it undoes none."""
        try:
            return self._read(os.path.join(self.sys_module, "compression"), 64).strip() or None
        except FileNotFoundError:
            return None

    def _loaded(self) -> dict[str, _Loaded]:
        try:
            text = self._read(self.proc_modules, MAX_PROC_MODULES_BYTES)
        except FileNotFoundError:
            return {}  # no module support: only built-in modules
        modules: dict[str, _Loaded] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if len(fields) < 5 or fields[4] not in _STATES or not _REFCOUNT.match(fields[2]):
                raise ValueError(f"/proc/modules line {number} is not a module's line: {line!r}")
            refcount = None if fields[2] == "-" else int(fields[2])
            holders = tuple(
                holder
                for holder in fields[3].split(",")
                if holder and holder != "-" and not holder.startswith("[")  # [permanent]
            )
            modules[fields[0]] = _Loaded(_STATES[fields[4]], refcount, holders)
        return modules

    def _parameters(self, name: str) -> dict[str, str]:
        directory = os.path.join(self.sys_module, name, "parameters")
        try:
            names = sorted(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return {}
        values: dict[str, str] = {}
        for parameter in names:
            try:
                value = self._read(os.path.join(directory, parameter), MAX_PARAMETER_BYTES)
            except (ValueError, FileNotFoundError):
                continue  # not readable (write-only, its getter failed), or gone meanwhile
            values[parameter] = value.removesuffix("\n")
        return values

    @staticmethod
    def _read(path: str, limit: int) -> str:
        """The file's text; FileNotFoundError when absent, ValueError when unreadable."""
        try:
            return read_bounded(path, limit).decode(errors="replace")
        except FileNotFoundError:
            raise
        except OSError as error:
            raise ValueError(f"{path} cannot be read: {describe_os_error(error)}") from None
