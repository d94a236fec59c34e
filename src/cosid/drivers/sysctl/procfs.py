"""The procfs sysctl driver: reads and writes ``<root>/proc/sys/<path>`` directly.

No sysctl binary: one open, one read or write, one close per call. That is fast enough to
do inline, so the methods never leave the event loop; they are async because other drivers
(D-Bus, a remote agent) need to be.

/proc/sys/net shows the network namespace of the calling thread, so per-namespace keys
(net.ipv4.ip_forward, ...) are those of the namespace cosid runs in.

Keys are checked twice: by the resource models (`parse_key` refuses anything that could leave
/proc/sys lexically), and here by opening without following any symlink (`open_no_symlinks`),
so a symlink in a private tree (the real /proc/sys has none) cannot lead anywhere else.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from cosid.drivers.errors import describe_os_error
from cosid.drivers.paths import open_no_symlinks
from cosid.drivers.sysctl.driver import (
    SysctlInvalidValueError,
    SysctlKeyError,
    SysctlNotSupportedError,
    SysctlPermissionError,
    SysctlReadError,
    SysctlReadOnlyError,
    SysctlWriteError,
)
from cosid.resources.sysctl import key_path, parse_key, parse_value

MAX_READ_BYTES = 1 << 20
"""Reads stop here: no sysctl is nearly this large, and a private tree is not trusted."""

_ABSENT = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR)
"""No such key: nothing there, or a directory (net.ipv4 is not a sysctl)."""
_REFUSED_VALUE = (errno.EINVAL, errno.ERANGE)


class ProcfsSysctlDriver:
    """`SysctlDriver` over the files of /proc/sys under `root` (a private tree in tests).

    ``<root>/proc/sys`` itself is resolved once, when the driver is made; below it, no
    symlink is followed.
    """

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self.base = os.path.realpath(root / "proc" / "sys")

    async def read(self, key: str) -> str | None:
        key, path = self._resolve(key)
        try:
            fd = self._open(key, path, os.O_RDONLY)
            try:
                data = _read_all(fd)
            finally:
                os.close(fd)
        except OSError as error:
            if error.errno in _ABSENT:
                return None
            raise SysctlReadError(key, describe_os_error(error), error.errno) from None
        return data.decode(errors="replace").rstrip("\n")

    async def write(self, key: str, value: str) -> None:
        key, path = self._resolve(key)
        try:
            data = parse_value(value).encode() + b"\n"
        except ValueError as error:
            raise SysctlInvalidValueError(key, f"the value {error}") from None
        try:
            fd = self._open(key, path, os.O_WRONLY)
        except OSError as error:
            raise _write_error(key, path, error) from None
        try:
            # /proc/sys refuses to open a read-only key for writing, even for root; on a
            # private tree root may open anything, so the mode is checked here too.
            status = os.fstat(fd)
            if not status.st_mode & 0o222:
                raise SysctlReadOnlyError(key, "is read-only")
            try:
                if status.st_size:  # a private tree's file; /proc/sys files have size 0
                    os.ftruncate(fd, 0)
                written = os.write(fd, data)
            except OSError as error:
                raise _write_error(key, path, error) from None
        finally:
            os.close(fd)
        if written != len(data):
            raise SysctlWriteError(key, f"the kernel took {written} of {len(data)} bytes")

    def _resolve(self, key: str) -> tuple[str, str]:
        """The canonical key and its file."""
        try:
            canonical = parse_key(key)
        except ValueError as error:
            raise SysctlKeyError(key, f"the key {error}") from None
        return canonical, f"{self.base}/{key_path(canonical)}"

    @staticmethod
    def _open(key: str, path: str, flags: int) -> int:
        try:
            return open_no_symlinks(path, flags)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise SysctlKeyError(key, "leads through a symlink (/proc/sys has none)") from None
            raise


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < MAX_READ_BYTES:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:MAX_READ_BYTES]


def _write_error(key: str, path: str, error: OSError) -> SysctlWriteError:
    code = error.errno
    if code in _ABSENT:
        return SysctlNotSupportedError(key, "is not supported by this kernel", code)
    if code in _REFUSED_VALUE:
        return SysctlInvalidValueError(
            key, f"the kernel refused the value: {describe_os_error(error)}", code
        )
    if code == errno.EROFS:
        return SysctlReadOnlyError(key, "is on a read-only file system", code)
    if code in (errno.EACCES, errno.EPERM):
        if code == errno.EACCES and _is_read_only(path):
            return SysctlReadOnlyError(key, "is read-only", code)
        return SysctlPermissionError(
            key, f"may not be written by cosid: {describe_os_error(error)}", code
        )
    return SysctlWriteError(key, describe_os_error(error), code)


def _is_read_only(path: str) -> bool:
    try:
        mode = os.stat(path, follow_symlinks=False).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and not mode & 0o222
