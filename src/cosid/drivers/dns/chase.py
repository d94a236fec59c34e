"""Following a symlink under a root prefix as the node itself would, without leaving the prefix.

A link's target is read in the node's terms: an absolute target starts at the root prefix
(``/run/systemd/resolve/stub-resolv.conf`` is ``<root>/run/...``), a relative one at the
link's directory, and links met on the way are followed the same way, at most
`MAX_SYMLINKS` of them (the kernel's limit). Where the kernel stops a ``..`` at ``/``, this
refuses it: a link that climbs above the root is a mistake at best, and under a root prefix
it would lead out of it.

The answer is a node path whose components were each seen not to be symlinks. The caller
opens it with `open_no_symlinks`, so a symlink swapped in meanwhile makes that open fail; it
never leads the write elsewhere.
"""

from __future__ import annotations

import os
import stat
from typing import Final

from cosid.drivers.dns.driver import (
    DnsNotAFileError,
    DnsSymlinkDanglingError,
    DnsSymlinkLoopError,
    DnsSymlinkOutsideRootError,
)

MAX_SYMLINKS: Final = 40
"""Links followed before the chase is called a loop (the kernel's MAXSYMLINKS)."""


def chase(root: str, link: str, target: str) -> str:
    """The node path of the file that the symlink `link` (a node path), whose target is
    `target`, leads to under `root` (a host path without symlinks). The file itself may be
    missing (a write creates it); its directory must exist.

    Raises DnsSymlinkOutsideRootError, DnsSymlinkDanglingError, DnsSymlinkLoopError, and
    DnsNotAFileError when it leads to the root directory itself; OSError when a directory on
    the way cannot be read.
    """
    pending = _components(target)
    resolved = [] if target.startswith("/") else _components(os.path.dirname(link))
    followed = 0
    while pending:
        name = pending.pop(0)
        if name == "..":
            if not resolved:
                raise DnsSymlinkOutsideRootError(link, f"points to {target!r}, out of the root")
            resolved.pop()
            continue
        try:
            status = os.lstat(os.path.join(root, *resolved, name))
        except FileNotFoundError:
            if pending:
                missing = _node_path([*resolved, name])
                raise DnsSymlinkDanglingError(
                    link, f"points to {target!r}, into {missing}, which does not exist"
                ) from None
            resolved.append(name)
            break
        if stat.S_ISLNK(status.st_mode):
            followed += 1
            if followed > MAX_SYMLINKS:
                raise DnsSymlinkLoopError(
                    link, f"points to {target!r}, through more than {MAX_SYMLINKS} symlinks"
                )
            next_target = os.readlink(os.path.join(root, *resolved, name))
            pending[:0] = _components(next_target)
            if next_target.startswith("/"):
                resolved = []
            continue
        if pending and not stat.S_ISDIR(status.st_mode):
            through = _node_path([*resolved, name])
            raise DnsSymlinkDanglingError(
                link, f"points to {target!r}, through {through}, which is not a directory"
            )
        resolved.append(name)
    if not resolved:
        raise DnsNotAFileError(link, f"points to {target!r}, the root directory")
    return _node_path(resolved)


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _node_path(components: list[str]) -> str:
    return "/" + "/".join(components)
