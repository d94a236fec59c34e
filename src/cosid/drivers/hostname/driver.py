"""The hostname driver interface: read and set the kernel's names and /etc/hostname; errors
that say why a write failed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cosid.drivers.errors import DriverError


class HostnameError(DriverError):
    """Base of the hostname driver's errors; the subject is what was being read or written:
    ``hostname``, ``domain`` or ``/etc/hostname``."""

    @property
    def what(self) -> str:
        return self.subject


class HostnameReadError(HostnameError):
    """The kernel's names or /etc/hostname cannot be read."""

    reason = "ReadFailed"


class HostnameWriteError(HostnameError):
    """A write failed for a reason none of the subclasses names."""

    reason = "WriteFailed"


class HostnameInvalidNameError(HostnameWriteError, ValueError):
    """The kernel refused the name (EINVAL: longer than 64 bytes), or the driver did (a NUL or
    a line break, which would cut the name short or add a line to /etc/hostname)."""

    reason = "InvalidName"


class HostnamePermissionError(HostnameWriteError):
    """Not allowed: no CAP_SYS_ADMIN over the UTS namespace, or /etc/hostname not writable."""

    reason = "PermissionDenied"


class HostnameSymlinkError(HostnameReadError, HostnameWriteError):
    """/etc/hostname (or a directory on the way to it) is a symlink, which cosid does not
    follow (nor replace: whoever made it manages the name some other way)."""

    reason = "Symlink"


@dataclass(frozen=True, slots=True)
class HostnameState:
    """What the kernel and /etc/hostname hold."""

    hostname: str
    domain: str
    """The NIS domain name; ``(none)`` when never set."""
    file: str | None
    """The content of /etc/hostname; None when there is no such file."""


class HostnameDriver(Protocol):
    """Reads and sets the kernel's hostname and NIS domain name, and /etc/hostname.

    The kernel's names are those of the calling thread's UTS namespace.
    """

    @property
    def watched_paths(self) -> tuple[Path, ...]:
        """The files whose change is drift (/etc/hostname under the root prefix), for the
        runtime's inotify watch; the kernel's names announce nothing."""
        ...

    async def read(self) -> HostnameState:
        """The kernel's names and the file's content.

        Raises HostnameReadError (a HostnameSymlinkError when the file is a symlink).
        """
        ...

    async def write(self, hostname: str, domain: str | None) -> None:
        """Set the kernel's hostname, its domain name (None: leave it), and /etc/hostname to
        hold the hostname (`cosid.resources.hostname.file_content`), in that order.

        Names are validated by the resource models; the driver takes any the kernel does
        (originals are restored as found). Raises a HostnameWriteError subclass naming the
        reason; a kernel refusal leaves the file as it was.
        """
        ...

    async def write_file(self, content: str | None) -> None:
        """Make /etc/hostname hold exactly `content`, or remove it (None).

        Raises a HostnameWriteError subclass naming the reason.
        """
        ...
