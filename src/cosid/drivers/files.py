"""Replacing and removing files atomically, in directories opened without following symlinks:
the one way every driver writes a file (/etc/motd, /etc/hostname, /etc/resolv.conf, the
boot-time files).

A file is never changed in place: the new content goes to a temporary file beside it, which is
flushed to disk with the mode and owner it will keep and then renamed over the old one, and
the directory is flushed too, so a reader (or a crash) sees the old file or the new one, never
a mix; a failure leaves no temporary file behind. A removal flushes the directory as well.

Symlinks: directories are opened with `open_no_symlinks` (`open_directory`), and every file is
then named relative to its open directory, so nothing can swap a symlink in on the way. A
symlink at the file's own name is refused (`IsASymlinkError`, ELOOP) unless the caller says
one may be there (``symlink_ok``): then it is replaced or removed as a link, never followed.
Anything else but a regular file there (a directory, a FIFO, ...) is refused
(`NotARegularFileError`). Both are OSErrors, so each driver maps them, with the rest, to its
own errors.

Writes and removals sync to disk (milliseconds): from the event loop, call them in a thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Final

from cosid.drivers.paths import open_no_symlinks

NEW_FILE_MODE: Final = 0o644
"""A new file's mode: whatever cosid writes is read by others (the boot's tools, resolvers,
logins)."""
NEW_DIRECTORY_MODE: Final = 0o755


class IsASymlinkError(OSError):
    """A symlink is at a file's name, where cosid follows none (ELOOP, as open(2) with
    O_NOFOLLOW says)."""

    def __init__(self, name: str) -> None:
        super().__init__(errno.ELOOP, "is a symlink", name)


class NotARegularFileError(OSError):
    """Something other than a regular file (a directory, a FIFO, ...) is at a file's name
    (EBADFD, as systemd says it)."""

    def __init__(self, name: str) -> None:
        super().__init__(errno.EBADFD, "is not a regular file", name)


def open_directory(path: str, *, create: bool = False) -> int:
    """The directory `path` (absolute, normalised) as a descriptor, opened without following a
    symlink anywhere on the way. With `create`, missing directories are made first (each
    NEW_DIRECTORY_MODE whatever the umask, in its parent opened the same way)."""
    flags = os.O_RDONLY | os.O_DIRECTORY
    try:
        return open_no_symlinks(path, flags)
    except FileNotFoundError:
        if not create:
            raise
    parent_path, name = os.path.split(path)
    parent = open_directory(parent_path, create=True)
    try:
        try:
            os.mkdir(name, NEW_DIRECTORY_MODE, dir_fd=parent)
            made = True
        except FileExistsError:
            made = False  # made meanwhile by someone else: taken as it is
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    finally:
        os.close(parent)
    if made:
        try:
            os.fchmod(fd, NEW_DIRECTORY_MODE)
        except BaseException:
            os.close(fd)
            raise
    return fd


def find(directory: int, name: str, *, symlink_ok: bool = False) -> os.stat_result | None:
    """What is at `name` in `directory`, a symlink not followed; None when nothing is.

    Raises IsASymlinkError for a symlink (unless `symlink_ok`: then the link's own status is
    the answer), NotARegularFileError for anything else but a regular file.
    """
    try:
        found = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(found.st_mode):
        if symlink_ok:
            return found
        raise IsASymlinkError(name)
    if not stat.S_ISREG(found.st_mode):
        raise NotARegularFileError(name)
    return found


def replace(
    directory: int, name: str, data: bytes, *, mode: int | None = None, symlink_ok: bool = False
) -> None:
    """`name` in `directory` holds `data`, renamed into place. The file keeps the old one's
    owner, and its mode unless `mode` is given; a new one (or one put where a symlink was, when
    `symlink_ok`) is `mode` or NEW_FILE_MODE, owned by root (by the daemon's own user when that
    is not root). Raises what `find` does, and OSError."""
    existing = find(directory, name, symlink_ok=symlink_ok)
    if existing is not None and stat.S_ISLNK(existing.st_mode):
        existing = None  # the link itself is replaced: nothing of it is kept
    if mode is not None:
        final_mode = mode
    else:
        final_mode = stat.S_IMODE(existing.st_mode) if existing else NEW_FILE_MODE
    uid, gid = (existing.st_uid, existing.st_gid) if existing else _new_owner()
    rename_into_place(
        directory,
        name,
        lambda temporary: _create(directory, temporary, data, final_mode, uid, gid),
    )


def rename_into_place(directory: int, name: str, make: Callable[[str], None]) -> None:
    """`make` a temporary entry beside `name` (a file, a symlink), rename it over `name`,
    flush the directory; no temporary is left behind when that fails."""
    temporary = f".{name}.{secrets.token_hex(8)}.tmp"
    try:
        make(temporary)
        os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=directory)
        raise
    os.fsync(directory)


def remove(directory: int, name: str, *, symlink_ok: bool = False) -> bool:
    """Nothing at `name` in `directory` (a symlink, when `symlink_ok`, is removed as a link);
    True if something was removed. Raises what `find` does, and OSError."""
    if find(directory, name, symlink_ok=symlink_ok) is None:
        return False
    os.unlink(name, dir_fd=directory)
    os.fsync(directory)
    return True


def put(path: Path, data: bytes | None) -> bool:
    """The file at `path` (absolute, normalised) holds exactly `data`, or is absent (None);
    True if that changed it. For files cosid alone writes (an edit is overwritten): missing
    directories are made, every new version is NEW_FILE_MODE, and a symlink at `path` is
    replaced or removed, never followed. Raises OSError (those of `find` included)."""
    parent, name = os.path.split(path)
    try:
        directory = open_directory(parent, create=data is not None)
    except FileNotFoundError:
        if data is None:
            return False  # no directory, so no file to remove
        raise
    try:
        if data is None:
            return remove(directory, name, symlink_ok=True)
        if _holds(directory, name, data):
            return False
        replace(directory, name, data, mode=NEW_FILE_MODE, symlink_ok=True)
        return True
    finally:
        os.close(directory)


def _holds(directory: int, name: str, data: bytes) -> bool:
    """Whether `name` is a regular file holding exactly `data` (a symlink never is)."""
    found = find(directory, name, symlink_ok=True)
    if found is None or stat.S_ISLNK(found.st_mode) or found.st_size != len(data):
        return False
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(name, flags, dir_fd=directory)
    try:
        return _read(fd, len(data) + 1) == data
    finally:
        os.close(fd)


def _create(directory: int, name: str, data: bytes, mode: int, uid: int, gid: int) -> None:
    """The new file, complete and on disk, with the owner and mode it will keep."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600, dir_fd=directory)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        created = os.fstat(fd)
        if (created.st_uid, created.st_gid) != (uid, gid):
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)  # after fchown, which clears set-id bits
        os.fsync(fd)
    finally:
        os.close(fd)


def read_all(fd: int, limit: int) -> bytes:
    """Everything left to read from `fd`; OSError EFBIG past `limit` bytes: what cosid reads
    back is small, and a huge file there is someone else's, not to be held in memory."""
    chunks: list[bytes] = []
    size = 0
    while chunk := os.read(fd, 1 << 16):
        size += len(chunk)
        if size > limit:
            raise OSError(errno.EFBIG, f"is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _new_owner() -> tuple[int, int]:
    return (0, 0) if os.geteuid() == 0 else (os.geteuid(), os.getegid())


def _read(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes from `fd`: fewer only at the end of the file."""
    chunks: list[bytes] = []
    while limit > 0 and (chunk := os.read(fd, limit)):
        chunks.append(chunk)
        limit -= len(chunk)
    return b"".join(chunks)
