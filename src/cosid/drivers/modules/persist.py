"""The files that make cosid's modules load at boot, before cosid starts (the config's
`domains.modules.persist`).

- ``<root>/etc/modules-load.d/cosid.conf``: a name per line. systemd-modules-load (and
  Debian's kmod init script) loads each at boot through libkmod, as modprobe would:
  dependencies, aliases and blacklists included.
- ``<root>/etc/modprobe.d/cosid.conf``: an ``options <module> name=value ...`` line per module
  with parameters. modprobe applies them whenever it loads the module, at boot or later; they
  are keyed by the module's own name (an alias's target), which is what kmod matches.

Each file is rewritten whole from the full set it is given: written to a temporary file beside
it, flushed to disk and renamed over it, so a reader (or a crash) sees the old file or the new
one, never a mix. Nothing to say removes the file. Names and parameters are checked by the
resource models' rules before anything is touched, so no value can add a line.

Writing syncs to disk (milliseconds): from the event loop, call it in a thread.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Final

from cosid.resources.modules import parameter_string, parse_name, parse_parameters

FILE_NAME: Final = "cosid.conf"
HEADER: Final = "# Written by cosid from its kernel module specs; edits here are overwritten.\n"


class ModuleBootFiles:
    """``<root>/etc/modules-load.d/cosid.conf`` and ``<root>/etc/modprobe.d/cosid.conf``."""

    def __init__(self, root: Path = Path("/")) -> None:
        self.modules_load = root / "etc" / "modules-load.d" / FILE_NAME
        self.modprobe = root / "etc" / "modprobe.d" / FILE_NAME

    @property
    def paths(self) -> tuple[Path, Path]:
        return (self.modules_load, self.modprobe)

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
        changed = _put(self.modules_load, HEADER + loads if loads else None)
        return _put(self.modprobe, HEADER + options_text if options_text else None) or changed


def _put(path: Path, text: str | None) -> bool:
    """The file holds `text` (None: there is no file); True if it had to change."""
    data = text.encode() if text is not None else None
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        if data is None:
            return False
    if data is None:
        path.unlink()
    else:
        _replace(path, data)
    _sync_directory(path.parent)
    return True


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fchmod(file.fileno(), 0o644)
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
