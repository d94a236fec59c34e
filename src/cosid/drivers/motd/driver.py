"""The MOTD driver interface: read, write and remove the one file; errors that say why not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cosid.drivers.errors import DriverError
from cosid.resources.files import digest


@dataclass(frozen=True, slots=True)
class MotdFile:
    """What the MOTD file holds, and its permissions."""

    content: bytes
    mode: int
    """The permission bits (``st_mode & 0o7777``)."""
    uid: int
    gid: int

    @property
    def sha256(self) -> str:
        return digest(self.content)

    @property
    def size(self) -> int:
        return len(self.content)


class MotdError(DriverError):
    """Base of the MOTD driver's errors; the subject is the node path (``/etc/motd``)."""

    @property
    def path(self) -> str:
        return self.subject


class MotdSymlinkError(MotdError):
    """The file, or a directory on the way to it under the root prefix, is a symlink. cosid
    follows none there: a symlink could point it at any file on the node."""

    reason = "Symlink"


class MotdNotAFileError(MotdError):
    """Something other than a regular file (a directory, a FIFO, ...) is at the file's path."""

    reason = "NotAFile"


class MotdReadError(MotdError):
    """The file exists but cannot be read (no permission, larger than the driver reads, ...)."""

    reason = "ReadFailed"


class MotdWriteError(MotdError):
    """Writing or removing the file failed for a reason none of the subclasses names (its
    directory is missing, the disk is full, ...)."""

    reason = "WriteFailed"


class MotdPermissionError(MotdWriteError):
    """This process may not change the file or its directory (not root, a read-only or
    immutable directory, ...)."""

    reason = "PermissionDenied"


class MotdReadOnlyError(MotdWriteError):
    """The file is on a read-only file system."""

    reason = "ReadOnly"


class MotdDriver(Protocol):
    """Reads and replaces the MOTD file.

    Every method raises `MotdSymlinkError` when the file or a directory on the way is a
    symlink, and `MotdNotAFileError` when something other than a regular file is there.
    """

    @property
    def path(self) -> str:
        """The file, as the node sees it (the root prefix left out): for messages."""
        ...

    @property
    def watched_paths(self) -> tuple[Path, ...]:
        """The file under the root prefix, for the runtime's inotify watch (drift)."""
        ...

    async def read(self) -> MotdFile | None:
        """The file's content and permissions; None when there is no file.

        Raises MotdReadError when the file exists but cannot be read.
        """
        ...

    async def write(self, content: bytes) -> None:
        """Replace the file's content as a whole, atomically: a reader sees the old content or
        the new one, never a mix. The file keeps its mode and owner; a new file is 0644, owned
        by root (by the daemon's own user when that is not root).

        Bytes, not text: restoring what was there before must be exact, whatever it held.
        Raises a MotdWriteError subclass naming the reason.
        """
        ...

    async def remove(self) -> None:
        """Remove the file; nothing to do when there is none. Raises MotdWriteError."""
        ...
