"""The sysctl.d file that makes cosid's values hold early at boot, before cosid starts.

One file, ``<root>/etc/sysctl.d/90-cosid.conf``, always rewritten whole from the full set of
keys, atomically and without following a symlink below the root prefix (`files.put`), so a
reader (or a crash) sees the old file or the new one, never a mix. Keys are written in the
canonical dotted form, which both systemd-sysctl and ``sysctl --system`` read; sysctl.d's
``-`` prefix marks the keys whose errors are ignored.

Writing syncs to disk (milliseconds): from the event loop, call it in a thread.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from cosid.drivers import files
from cosid.resources.sysctl import SysctlSpec, parse_key, parse_value

DEFAULT_FILE_NAME = "90-cosid.conf"
HEADER = "# Written by cosid from its sysctl specs; edits here are overwritten.\n"


class SysctlDFile:
    """``<root>/etc/sysctl.d/<name>``, holding exactly the values it was last given."""

    def __init__(self, root: Path = Path("/"), name: str = DEFAULT_FILE_NAME) -> None:
        if "/" in name or name.startswith(".") or not name.endswith(".conf"):
            raise ValueError(f"{name!r} is not a sysctl.d file name (like 90-cosid.conf)")
        # the root prefix resolved once (it may be a symlink); nothing below it is followed
        self.path = Path(os.path.realpath(root), "etc", "sysctl.d", name)

    @property
    def paths(self) -> tuple[Path]:
        return (self.path,)

    def hold(self, specs: Sequence[SysctlSpec]) -> bool:
        """Make the file hold `specs` (none: no file); True if that changed it. For
        `BootFilesController`."""
        return self.write(
            {spec.key: spec.value for spec in specs},
            ignore_errors=[spec.key for spec in specs if spec.ignore_errors],
        )

    def write(self, values: Mapping[str, str], *, ignore_errors: Collection[str] = ()) -> bool:
        """Make the file hold `values` (key -> value); True if that changed it.

        No values removes the file. Keys in `ignore_errors` get sysctl.d's ``-`` mark.
        Raises ValueError for an invalid key or value, before touching anything.
        """
        return files.put(self.path, render(values, ignore_errors).encode() if values else None)

    def read(self) -> dict[str, str]:
        """The values the file holds by canonical key (empty if there is no file).

        Raises ValueError for a line cosid would not have written.
        """
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        values: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            key, separator, value = line.removeprefix("-").partition("=")
            if not separator:
                raise ValueError(f"{self.path.name} line {number} has no '='")
            values[parse_key(key.strip())] = parse_value(value)
        return values


def render(values: Mapping[str, str], ignore_errors: Collection[str] = ()) -> str:
    """The file's text: the header and one ``key = value`` line per key, sorted by key."""
    ignored = {parse_key(key) for key in ignore_errors}
    lines: dict[str, str] = {}
    for key, value in values.items():
        canonical = parse_key(key)
        if canonical in lines:
            raise ValueError(f"the key {canonical} is given twice")
        mark = "-" if canonical in ignored else ""
        lines[canonical] = f"{mark}{canonical} = {parse_value(value)}\n"
    unknown = ignored - lines.keys()
    if unknown:
        raise ValueError(f"ignore_errors names keys without a value: {sorted(unknown)}")
    return HEADER + "".join(lines[key] for key in sorted(lines))
