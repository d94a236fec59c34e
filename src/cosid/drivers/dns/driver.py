"""The DNS driver interface: read what /etc/resolv.conf is, make it hold a content, put back what
was there; errors that say why not."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from cosid.drivers import files
from cosid.drivers.errors import DriverError, describe_os_error
from cosid.resources.dns import ResolverConfig
from cosid.resources.files import digest

SymlinkPolicy = Literal["replace", "follow"]
"""What a write does when /etc/resolv.conf is a symlink: replace the link with a regular
file, or write the file the link leads to."""


@dataclass(frozen=True, slots=True)
class RegularFile:
    """A regular file resolvers read: where it is, what it holds, its permission bits."""

    path: str
    """As the node sees it (the root prefix left out)."""
    content: bytes
    mode: int
    """``st_mode & 0o7777``."""

    @property
    def sha256(self) -> str:
        return digest(self.content)


@dataclass(frozen=True, slots=True)
class ResolvConf:
    """What /etc/resolv.conf is: a regular file, a symlink (to a file, or to nothing a resolver
    could read), or nothing at all (both None)."""

    symlink: str | None = None
    """The link's target as the link says, when /etc/resolv.conf is a symlink."""
    file: RegularFile | None = None
    """The file resolvers read: /etc/resolv.conf itself, or the one the link leads to under
    the root prefix; None when there is none."""
    effective: ResolverConfig | None = None
    """What a resolver service that reads the file says it uses (systemd-resolved's
    properties); None when resolvers read the file itself."""


class DnsError(DriverError):
    """Base of the DNS driver's errors; the subject is the node path (``/etc/resolv.conf``, or
    where its symlink leads)."""

    @property
    def path(self) -> str:
        return self.subject


class DnsSymlinkError(DnsError):
    """A symlink cosid does not follow: /etc under the root prefix, a directory on the way to
    the file, or one that appeared where a regular file was just seen."""

    reason = "Symlink"


class DnsSymlinkOutsideRootError(DnsSymlinkError):
    """/etc/resolv.conf is a symlink whose ``..`` components climb above the root: cosid
    writes nothing outside the root prefix."""

    reason = "SymlinkOutsideRoot"


class DnsSymlinkDanglingError(DnsSymlinkError):
    """/etc/resolv.conf is a symlink into a directory that does not exist (or through
    something that is not a directory): there is nowhere to write the file."""

    reason = "SymlinkDangling"


class DnsSymlinkLoopError(DnsSymlinkError):
    """/etc/resolv.conf is a symlink that leads through more than 40 symlinks (a loop)."""

    reason = "SymlinkLoop"


class DnsNotAFileError(DnsError):
    """Something other than a regular file (a directory, a FIFO, ...) is where the file goes."""

    reason = "NotAFile"


class DnsReadError(DnsError):
    """The file exists but cannot be read (no permission, larger than the driver reads, ...)."""

    reason = "ReadFailed"


class DnsWriteError(DnsError):
    """Writing or removing the file failed for a reason none of the subclasses names (its
    directory is missing, the disk is full, ...)."""

    reason = "WriteFailed"


class DnsPermissionError(DnsWriteError):
    """This process may not change the file or its directory (not root, a read-only or
    immutable directory, ...)."""

    reason = "PermissionDenied"


class DnsReadOnlyError(DnsWriteError):
    """The file is on a read-only file system."""

    reason = "ReadOnly"


class DnsUnsupportedError(DnsError):
    """The spec asks for something the driver's resolver cannot do (resolv.conf options
    through systemd-resolved, say): nothing is written."""

    reason = "Unsupported"


class DnsDriver(Protocol):
    """Reads and replaces the resolver configuration file: /etc/resolv.conf (resolvconf), or
    the file a resolver service reads, which `read` then reports with what the service says
    it uses (resolved: a resolved.conf drop-in). `write` always gets the resolv.conf text a
    spec stands for.

    Every method raises `DnsSymlinkError` for a symlink on the way to /etc/resolv.conf, and
    `DnsNotAFileError` when something other than a regular file or a symlink is there.
    """

    @property
    def path(self) -> str:
        """The file, as the node sees it (the root prefix left out): for messages."""
        ...

    @property
    def watched_paths(self) -> tuple[Path, ...]:
        """/etc/resolv.conf under the root prefix, for the runtime's inotify watch (drift)."""
        ...

    async def read(self) -> ResolvConf:
        """What /etc/resolv.conf is. A symlink that leads nowhere a resolver could read (out
        of the root, dangling, to a directory) is reported with no file, not raised.

        Raises DnsReadError when the file exists but cannot be read.
        """
        ...

    def holds(self, found: ResolvConf, content: bytes) -> bool:
        """Whether `found` is what `write(content)` makes: the content, mode 0644, and no
        symlink unless the driver writes through it."""
        ...

    async def write(self, content: bytes) -> None:
        """Make resolvers read `content`, atomically: a reader sees the old file or the new
        one, never a mix. The file is 0644 and keeps its owner; a new one is owned by root (by
        the daemon's own user when that is not root). A symlink is replaced or written
        through, as the driver's `SymlinkPolicy` says; written through, it raises a
        `DnsSymlinkError` subclass when it leads out of the root, into a missing directory or
        in a loop. Raises a DnsWriteError subclass naming the reason.
        """
        ...

    async def restore(self, symlink: str | None, content: bytes | None, mode: int) -> None:
        """Put back what `read` found before the first write: the symlink (when `symlink` is
        not None; written through, the file it leads to is restored too), the file with
        `content` and `mode`, or no file (`content` None). Raises like `write`.
        """
        ...


def os_error(base: type[DnsError], path: str, what: str, error: OSError) -> DnsError:
    """The driver error for an OSError: a subclass of `base` when one names the reason."""
    code = error.errno
    if isinstance(error, files.NotARegularFileError):
        return DnsNotAFileError(path, "is not a regular file")
    if code == errno.ELOOP:
        return DnsSymlinkError(path, "leads through a symlink; cosid follows none there", code)
    if issubclass(base, DnsWriteError):
        if code in (errno.EACCES, errno.EPERM):
            return DnsPermissionError(path, f"{what} by cosid: {describe_os_error(error)}", code)
        if code == errno.EROFS:
            return DnsReadOnlyError(path, f"{what}: it is on a read-only file system", code)
    return base(path, f"{what}: {describe_os_error(error)}", code)
