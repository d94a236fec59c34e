"""A spec's options in the kernel's words, and back: mount(2)'s flags and option string, and
whether a mountinfo entry shows them.

What is compared is exactly what a mount or remount sets, so a repaired mount compares equal
and a repair never repeats: the flags (all of them; ``atime`` only when the spec names one),
and a tmpfs's size when the spec gives one, in pages as the kernel rounds it. A spec that
leaves the size out takes the kernel's default when mounted, and any size afterwards.
``data`` options are passed when the file system is mounted and not compared (file systems
show them in their own ways, or not at all).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from cosid.drivers.mounts.mountinfo import MountEntry
from cosid.resources.mounts import TMPFS, MountOptions, MountSpec

MS_RDONLY: Final = 0x1
MS_NOSUID: Final = 0x2
MS_NODEV: Final = 0x4
MS_NOEXEC: Final = 0x8
MS_REMOUNT: Final = 0x20
MS_NOATIME: Final = 0x400
MS_BIND: Final = 0x1000
MS_REC: Final = 0x4000
MS_RELATIME: Final = 0x200000
MS_STRICTATIME: Final = 0x1000000

_ATIME_FLAGS: Final = {
    "relatime": MS_RELATIME,
    "noatime": MS_NOATIME,
    "strictatime": MS_STRICTATIME,
}
_ATIME_WORDS: Final = frozenset({"relatime", "noatime"})
"""How mountinfo shows the atime modes (strictatime shows neither)."""
_KIB: Final = 1024


def mount_flags(options: MountOptions) -> int:
    """The MS_* flags for the mount's own options."""
    flags = 0
    for wanted, flag in (
        (options.ro, MS_RDONLY),
        (options.nosuid, MS_NOSUID),
        (options.nodev, MS_NODEV),
        (options.noexec, MS_NOEXEC),
    ):
        if wanted:
            flags |= flag
    if options.atime is not None:
        flags |= _ATIME_FLAGS[options.atime]
    return flags


@dataclass(frozen=True, slots=True)
class OverlayDirs:
    """An overlay's directories as the kernel gets them: real paths (under the root prefix)."""

    lower: tuple[str, ...]
    """The lower layers, top first."""
    upper: str | None = None
    work: str | None = None

    def options(self) -> list[str]:
        """As overlay's options, in the order mountinfo shows them."""
        options = [f"lowerdir={':'.join(self.lower)}"]
        if self.upper is not None and self.work is not None:
            options += [f"upperdir={self.upper}", f"workdir={self.work}"]
        return options

    def shown_by(self, entry: MountEntry) -> bool:
        """Whether a mounted overlay has exactly these directories."""
        return (
            entry.super_option("lowerdir") == ":".join(self.lower)
            and entry.super_option("upperdir") == self.upper
            and entry.super_option("workdir") == self.work
        )


def mount_data(spec: MountSpec, overlay: OverlayDirs | None = None) -> str:
    """The file system's option string: tmpfs size and mode, overlay's directories, then
    `data`. Every part was validated to hold no ``,`` (nor ``:`` in a layer), so the kernel
    reads back exactly these options."""
    options = spec.options
    parts = []
    if options.size is not None:
        parts.append(f"size={options.size}")
    if options.mode is not None:
        parts.append(f"mode={options.mode}")
    if overlay is not None:
        parts += overlay.options()
    parts += [f"{key}={value}" if value else key for key, value in sorted(options.data.items())]
    return ",".join(parts)


def remount_data(spec: MountSpec) -> str | None:
    """What a remount passes the file system: a tmpfs's size, the one option cosid changes in
    place (None: nothing, the file system keeps its options)."""
    size = spec.options.size
    return f"size={size}" if spec.fstype == TMPFS and size is not None else None


def flags_match(options: MountOptions, entry: MountEntry) -> bool:
    """Whether the mount's own options are the spec's."""
    shown = set(entry.mount_options)
    if ("ro" in shown, "nosuid" in shown, "nodev" in shown, "noexec" in shown) != (
        options.ro,
        options.nosuid,
        options.nodev,
        options.noexec,
    ):
        return False
    if options.atime is None:
        return True
    return shown & _ATIME_WORDS == ({options.atime} & _ATIME_WORDS)


def size_matches(options: MountOptions, entry: MountEntry) -> bool:
    """Whether a tmpfs holds the spec's size (when it names one), page for page."""
    if options.size is None:
        return True
    page_size = os.sysconf("SC_PAGE_SIZE")
    ram_pages = os.sysconf("SC_PHYS_PAGES")
    return tmpfs_pages(entry, page_size, ram_pages) == size_pages(
        options.size, page_size, ram_pages
    )


def size_pages(size: str, page_size: int, ram_pages: int) -> int:
    """The pages a tmpfs of `size` holds, rounded up as the kernel rounds; a percentage is of
    `ram_pages` (all of RAM)."""
    percent = size.endswith("%")
    size_bytes = int(size[:-1]) * page_size * ram_pages // 100 if percent else int(size)
    return -(-size_bytes // page_size)


def tmpfs_pages(entry: MountEntry, page_size: int, ram_pages: int) -> int:
    """The pages a mounted tmpfs holds: its ``size=`` in KiB, or, when it shows none, the
    kernel's default (half of RAM)."""
    shown = entry.super_option("size")
    if shown is None:
        return ram_pages // 2
    return int(shown.removesuffix("k")) * _KIB // page_size
