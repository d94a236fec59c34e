"""The resolvconf DNS driver: reads and replaces ``<root>/etc/resolv.conf``.

A write replaces a file atomically (`cosid.drivers.files`: a temporary file beside it, flushed
and renamed over it), so a reader (or a crash) sees the old file or the new one, never a mix.
The new file is 0644 (every process that resolves a name reads it) and gets the old file's
owner; a new file is owned by root (by the daemon's own user when that is not root).

Symlinks: ``<root>`` itself is resolved once, when the driver is made (a sandbox's root prefix
may be a symlink). /etc/resolv.conf is often a symlink (to systemd-resolved's or resolvconf's
file under /run); what a write does with one is the `SymlinkPolicy`:

- ``replace``: the link is replaced by a regular file (the rename replaces the link itself,
  never the file it points to). Deleting the spec puts the link back.
- ``follow``: the file the link leads to is written, found as the node would find it
  (`chase`: absolute targets start at the root prefix), and refused when the link climbs out
  of the root (``SymlinkOutsideRoot``), leads into a directory that does not exist
  (``SymlinkDangling``) or loops (``SymlinkLoop``). A missing file in an existing directory
  is created. The link is left alone, and deleting the spec restores that file.

No other symlink is followed: directories are opened without following any, and files are
then named relative to the open directory, so nothing can swap a symlink in on the way.

Writes and removals sync to disk (milliseconds), so every method runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Final

from cosid.drivers import files
from cosid.drivers.dns.chase import chase
from cosid.drivers.dns.driver import (
    DnsError,
    DnsNotAFileError,
    DnsReadError,
    DnsSymlinkError,
    DnsWriteError,
    RegularFile,
    ResolvConf,
    SymlinkPolicy,
    os_error,
)
from cosid.drivers.paths import open_no_symlinks
from cosid.resources.dns import FILE_MODE, RESOLV_CONF_PATH

MAX_READ_BYTES: Final = 64 * 1024
"""Reads stop here: a larger file is no resolver configuration, and remembering part of it (to
restore later) would be worse than refusing it."""

_ABSENT: Final = (errno.ENOENT, errno.ENOTDIR)


class ResolvConfDriver:
    """`DnsDriver` over ``<root>/etc/resolv.conf`` (a private tree in tests and in the
    sandbox)."""

    path = RESOLV_CONF_PATH

    def __init__(self, root: Path = Path("/"), symlink: SymlinkPolicy = "replace") -> None:
        self.root = os.path.realpath(root)
        self.symlink = symlink
        self.watched_paths = (Path(self._host(RESOLV_CONF_PATH)),)

    @property
    def follows_symlinks(self) -> bool:
        return self.symlink == "follow"

    async def read(self) -> ResolvConf:
        return await asyncio.to_thread(self._read)

    def holds(self, found: ResolvConf, content: bytes) -> bool:
        if found.symlink is not None and not self.follows_symlinks:
            return False
        return (
            found.file is not None
            and found.file.content == content
            and found.file.mode == FILE_MODE
        )

    async def write(self, content: bytes) -> None:
        await asyncio.to_thread(self._write, content)

    async def restore(self, symlink: str | None, content: bytes | None, mode: int) -> None:
        await asyncio.to_thread(self._restore, symlink, content, mode)

    # --- reading ------------------------------------------------------------------------------

    def _read(self) -> ResolvConf:
        found, link = self._resolv_conf(DnsReadError)
        if found is None:
            return ResolvConf()
        if link is None:
            return ResolvConf(file=self._read_file(RESOLV_CONF_PATH))
        try:
            return ResolvConf(symlink=link, file=self._read_file(self._chase(link)))
        except (DnsSymlinkError, DnsNotAFileError):
            return ResolvConf(symlink=link)

    def _read_file(self, path: str) -> RegularFile | None:
        try:
            # O_NONBLOCK: a FIFO there must not hang the driver until someone writes to it.
            fd = open_no_symlinks(self._host(path), os.O_RDONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno in _ABSENT:
                return None
            raise os_error(DnsReadError, path, "cannot be opened", error) from None
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise DnsNotAFileError(path, "is not a regular file")
            content = files.read_all(fd, MAX_READ_BYTES)
        except OSError as error:
            raise os_error(DnsReadError, path, "cannot be read", error) from None
        finally:
            os.close(fd)
        return RegularFile(path, content, stat.S_IMODE(status.st_mode))

    def _resolv_conf(self, error: type[DnsError]) -> tuple[os.stat_result | None, str | None]:
        """What is at /etc/resolv.conf (None: nothing, not even /etc) and, when it is a
        symlink, the link's target."""
        try:
            directory, name = self._open_directory(RESOLV_CONF_PATH, error)
        except DnsError as failure:
            if failure.errno in _ABSENT:
                return None, None
            raise
        try:
            found = files.find(directory, name, symlink_ok=True)
            if found is None or not stat.S_ISLNK(found.st_mode):
                return found, None
            return found, os.readlink(name, dir_fd=directory)
        except OSError as failure:
            raise os_error(error, RESOLV_CONF_PATH, "cannot be examined", failure) from None
        finally:
            os.close(directory)

    def _chase(self, link: str) -> str:
        try:
            return chase(self.root, RESOLV_CONF_PATH, link)
        except OSError as error:
            raise os_error(DnsReadError, RESOLV_CONF_PATH, "cannot be followed", error) from None

    # --- writing ------------------------------------------------------------------------------

    def _write(self, content: bytes) -> None:
        _, link = self._resolv_conf(DnsWriteError)
        if link is not None and self.follows_symlinks:
            self._replace(self._chase(link), content, FILE_MODE, over_symlink=False)
        else:
            self._replace(RESOLV_CONF_PATH, content, FILE_MODE, over_symlink=True)

    def _restore(self, symlink: str | None, content: bytes | None, mode: int) -> None:
        """See `DnsDriver.restore`. Without an original link, /etc/resolv.conf is put back
        whatever is there now; with one, the link, and (written through) its file."""
        if symlink is None:
            if content is None:
                self._remove(RESOLV_CONF_PATH)
            else:
                self._replace(RESOLV_CONF_PATH, content, mode, over_symlink=True)
            return
        self._link(symlink)
        if not self.follows_symlinks:
            return
        if content is not None:
            self._replace(self._chase(symlink), content, mode, over_symlink=False)
            return
        with contextlib.suppress(DnsSymlinkError, DnsNotAFileError):
            self._remove(self._chase(symlink))  # nowhere to write: cosid wrote nothing there

    def _replace(self, path: str, content: bytes, mode: int, *, over_symlink: bool) -> None:
        """`path` holds `content` with `mode`, renamed into place; a symlink there is replaced
        when `over_symlink`, else refused."""
        directory, name = self._open_directory(path, DnsWriteError)
        try:
            files.replace(directory, name, content, mode=mode, symlink_ok=over_symlink)
        except files.IsASymlinkError:
            raise DnsSymlinkError(
                path, "became a symlink; cosid does not follow it there"
            ) from None
        except OSError as error:
            raise os_error(DnsWriteError, path, "cannot be replaced", error) from None
        finally:
            os.close(directory)

    def _link(self, target: str) -> None:
        """/etc/resolv.conf is a symlink to `target`, put in place by a rename (over a file or
        another link); nothing to do when it already is."""
        directory, name = self._open_directory(RESOLV_CONF_PATH, DnsWriteError)
        try:
            existing = files.find(directory, name, symlink_ok=True)
            linked = existing is not None and stat.S_ISLNK(existing.st_mode)
            if linked and os.readlink(name, dir_fd=directory) == target:
                return
            files.rename_into_place(
                directory, name, lambda temporary: os.symlink(target, temporary, dir_fd=directory)
            )
        except OSError as error:
            raise os_error(DnsWriteError, RESOLV_CONF_PATH, "cannot be linked", error) from None
        finally:
            os.close(directory)

    def _remove(self, path: str) -> None:
        """Nothing at `path` (no file, no symlink); nothing to do when there is nothing."""
        try:
            directory, name = self._open_directory(path, DnsWriteError)
        except DnsWriteError as error:
            if error.errno in _ABSENT:
                return
            raise
        try:
            files.remove(directory, name, symlink_ok=True)
        except OSError as error:
            raise os_error(DnsWriteError, path, "cannot be removed", error) from None
        finally:
            os.close(directory)

    # --- paths --------------------------------------------------------------------------------

    def _host(self, path: str) -> str:
        """A node path under the root prefix."""
        return os.path.normpath(os.path.join(self.root, path.lstrip("/")))

    def _open_directory(self, path: str, error: type[DnsError]) -> tuple[int, str]:
        """The open directory of `path` (no symlink on the way) and the file's name in it."""
        parent, name = os.path.split(path)
        try:
            return files.open_directory(self._host(parent)), name
        except OSError as failure:
            raise os_error(error, parent, "cannot be opened", failure) from None
