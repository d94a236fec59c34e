"""The file MOTD driver: reads and replaces ``<root>/etc/motd``.

A write replaces the file atomically (`cosid.drivers.files`: a temporary file beside it,
flushed and renamed over it), so a reader (or a crash) sees the old file or the new one, never
a mix. The new file keeps the old one's owner and mode; a new file is 0644, owned by root (by
the daemon's own user when that is not root).

Symlinks: ``<root>`` itself is resolved once, when the driver is made (a sandbox's root prefix
may be a symlink); below it, none is followed (`cosid.drivers.files`). A symlink at /etc/motd
is refused, not replaced: whoever put it there meant something by it. (Should one appear
between the check and the rename, the rename replaces the link itself, never the file it
points at.)

Writes and removals sync to disk (milliseconds), so every method runs in a thread.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from pathlib import Path

from cosid.drivers import files
from cosid.drivers.errors import describe_os_error
from cosid.drivers.motd.driver import (
    MotdError,
    MotdFile,
    MotdNotAFileError,
    MotdPermissionError,
    MotdReadError,
    MotdReadOnlyError,
    MotdSymlinkError,
    MotdWriteError,
)
from cosid.drivers.paths import open_no_symlinks
from cosid.resources.motd import MOTD_PATH

MAX_READ_BYTES = 1 << 20
"""Reads stop here: a larger /etc/motd is not a message of the day, and remembering part of it
(to restore later) would be worse than refusing it."""

_DIRECTORY, _NAME = os.path.split(MOTD_PATH)
_ABSENT = (errno.ENOENT, errno.ENOTDIR)


class FileMotdDriver:
    """`MotdDriver` over ``<root>/etc/motd`` (a private tree in tests and in the sandbox)."""

    path = MOTD_PATH

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self.directory = os.path.join(os.path.realpath(root), _DIRECTORY.lstrip("/"))
        self.watched_paths = (Path(self.directory, _NAME),)

    async def read(self) -> MotdFile | None:
        return await asyncio.to_thread(self._read)

    async def write(self, content: bytes) -> None:
        await asyncio.to_thread(self._write, content)

    async def remove(self) -> None:
        await asyncio.to_thread(self._remove)

    def _read(self) -> MotdFile | None:
        try:
            # O_NONBLOCK: a FIFO there must not hang the driver until someone writes to it.
            fd = open_no_symlinks(f"{self.directory}/{_NAME}", os.O_RDONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno in _ABSENT:
                return None
            raise _error(MotdReadError, MOTD_PATH, "cannot be opened", error) from None
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise MotdNotAFileError(MOTD_PATH, "is not a regular file")
            content = files.read_all(fd, MAX_READ_BYTES)
        except OSError as error:
            raise _error(MotdReadError, MOTD_PATH, "cannot be read", error) from None
        finally:
            os.close(fd)
        return MotdFile(content, stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid)

    def _write(self, content: bytes) -> None:
        directory = self._open_directory()
        try:
            files.replace(directory, _NAME, content)
        except OSError as error:
            raise _error(MotdWriteError, MOTD_PATH, "cannot be replaced", error) from None
        finally:
            os.close(directory)

    def _remove(self) -> None:
        try:
            directory = self._open_directory()
        except MotdWriteError as error:
            if error.errno in _ABSENT:
                return
            raise
        try:
            files.remove(directory, _NAME)
        except OSError as error:
            raise _error(MotdWriteError, MOTD_PATH, "cannot be removed", error) from None
        finally:
            os.close(directory)

    def _open_directory(self) -> int:
        try:
            return files.open_directory(self.directory)
        except OSError as error:
            raise _error(MotdWriteError, _DIRECTORY, "cannot be opened", error) from None


def _error(base: type[MotdError], path: str, what: str, error: OSError) -> MotdError:
    """The driver error for an OSError: a subclass of `base` when one names the reason."""
    code = error.errno
    if isinstance(error, files.NotARegularFileError):
        return MotdNotAFileError(path, "is not a regular file")
    if isinstance(error, files.IsASymlinkError):
        return MotdSymlinkError(path, "is a symlink; cosid does not follow symlinks there")
    if code == errno.ELOOP:
        return MotdSymlinkError(path, "leads through a symlink; cosid follows none there", code)
    if issubclass(base, MotdWriteError):
        if code in (errno.EACCES, errno.EPERM):
            return MotdPermissionError(path, f"{what} by cosid: {describe_os_error(error)}", code)
        if code == errno.EROFS:
            return MotdReadOnlyError(path, f"{what}: it is on a read-only file system", code)
    return base(path, f"{what}: {describe_os_error(error)}", code)
