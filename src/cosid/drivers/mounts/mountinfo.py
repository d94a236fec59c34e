"""The kernel's mount table as a mountinfo file shows it (proc(5)), parsed.

One line per mount::

    36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)

mount id, parent id, device, root (the directory of the file system mounted there), mount
point, the mount's own options, optional fields (propagation: ``shared:N``, ``master:N``...)
ended by ``-``, type, source and the file system's options. Fields are separated by single
spaces; the kernel writes a space, tab, newline or backslash inside a field as a three-digit
octal escape (``\\040``), and a file system's options escape their commas, so fields are
split first and unescaped after. Paths are bytes; they are decoded as UTF-8, with the
replacement character for anything else (a path cosid could be asked for is valid UTF-8).

The file shows the mount namespace of the thread it belongs to: `MOUNTINFO` names the calling
thread's (the daemon has one namespace; tests give a thread its own), and
``/proc/self/task/<tid>/mountinfo`` another thread's (`cosid.drivers.mounts.namespace`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Final

MOUNTINFO: Final = "/proc/thread-self/mountinfo"

_ESCAPE: Final = re.compile(rb"\\([0-3][0-7]{2})")
"""A byte in octal: what the kernel writes for a space, tab, newline or backslash."""
_FIXED_FIELDS: Final = 6
_AFTER_SEPARATOR: Final = 3


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One mount, as its line in mountinfo describes it."""

    mount_id: int
    parent_id: int
    device: str
    """``major:minor`` of the file system."""
    root: str
    mount_point: str
    """Where it is mounted, as the reading process sees it (with any root prefix)."""
    mount_options: tuple[str, ...]
    propagation: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]

    def super_option(self, name: str) -> str | None:
        """The value of the file system's option `name` (``""`` for a flag); None if absent."""
        for option in self.super_options:
            key, _, value = option.partition("=")
            if key == name:
                return value
        return None


def unescape(field: bytes) -> str:
    """A field's text: octal escapes (``\\040``) decoded, then UTF-8."""
    return _ESCAPE.sub(lambda match: bytes([int(match[1], 8)]), field).decode(errors="replace")


def parse_line(line: bytes) -> MountEntry:
    """One line of mountinfo; ValueError when it is not one."""
    fields = line.rstrip(b"\n").split(b" ")
    try:
        separator = fields.index(b"-", _FIXED_FIELDS)
    except ValueError:
        raise ValueError(f"no '-' separator in mountinfo line {line!r}") from None
    if len(fields) - separator - 1 != _AFTER_SEPARATOR:
        raise ValueError(f"malformed mountinfo line {line!r}")
    mount_id, parent_id, device, root, mount_point, mount_options = fields[:_FIXED_FIELDS]
    fstype, source, super_options = fields[separator + 1 :]
    return MountEntry(
        mount_id=int(mount_id),
        parent_id=int(parent_id),
        device=device.decode(),
        root=unescape(root),
        mount_point=unescape(mount_point),
        mount_options=_options(mount_options),
        propagation=tuple(unescape(field) for field in fields[_FIXED_FIELDS:separator]),
        fstype=unescape(fstype),
        source=unescape(source),
        super_options=_options(super_options),
    )


def parse(text: bytes) -> list[MountEntry]:
    """Every line of a mountinfo file, in its order (parents before their children)."""
    return [parse_line(line) for line in text.splitlines() if line]


def read(path: str = MOUNTINFO) -> list[MountEntry]:
    """The mount table; OSError if the file cannot be read."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return parse(b"".join(chunks))


def _options(field: bytes) -> tuple[str, ...]:
    return tuple(unescape(option) for option in field.split(b",") if option)
