"""What cosid takes from modprobe.d(5): the ``blacklist`` lines, which, as for modprobe, keep a
module from being loaded through an alias (a module named directly still loads).

The directories are those kmod reads, under the root prefix, earliest first; a file in an
earlier one hides a file of the same name in a later one, so an administrator's
/etc/modprobe.d/x.conf replaces the distribution's /usr/lib/modprobe.d/x.conf, and a symlink
to /dev/null masks it. Only ``*.conf`` files count. Every other kind of line (``options``,
``install``, ``softdep``, ...) is left to modprobe: cosid takes parameters from its specs, and
never runs the programs ``install`` lines name.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Final

from cosid.drivers.errors import describe_os_error
from cosid.drivers.modules.files import read_bounded
from cosid.resources.modules import normalise

DIRECTORIES: Final = (
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
)
MAX_FILE_BYTES: Final = 1 << 20
_MASK: Final = "/dev/null"


def read_blacklist(root: Path) -> frozenset[str]:
    """The modules blacklisted in the modprobe.d files under `root`, in canonical form.

    ValueError names a file that cannot be read (a symlink other than a mask included).
    """
    blacklist: set[str] = set()
    for path in _config_files(root).values():
        for line in _read(root, path).splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "blacklist":
                blacklist.add(normalise(words[1]))
    return frozenset(blacklist)


def _config_files(root: Path) -> dict[str, str]:
    """Each ``*.conf`` name, with the file of the earliest directory that has it."""
    files: dict[str, str] = {}
    for directory in DIRECTORIES:
        resolved = os.path.realpath(root / directory.lstrip("/"))
        try:
            names = sorted(os.listdir(resolved))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if name.endswith(".conf"):
                files.setdefault(name, f"{resolved}/{name}")
    return files


def _read(root: Path, path: str) -> str:
    try:
        return read_bounded(path, MAX_FILE_BYTES).decode(errors="replace")
    except OSError as error:
        if error.errno == errno.ELOOP and _is_mask(path):
            return ""
        shown = "/" + os.path.relpath(path, os.path.realpath(root))
        raise ValueError(f"{shown} cannot be read: {describe_os_error(error)}") from None


def _is_mask(path: str) -> bool:
    try:
        return os.readlink(path) == _MASK
    except OSError:
        return False
