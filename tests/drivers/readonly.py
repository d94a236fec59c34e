"""A directory nobody may change, for tests of failed writes, as root or not.

Without root, taking the write bits away is enough. Root ignores them, so as root the
directory is made immutable (the FS_IOC_SETFLAGS ioctl, like ``chattr +i``), which refuses
even root; a test is skipped where the file system or the capabilities do not allow that.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_IMMUTABLE_FL = 0x10


@contextlib.contextmanager
def read_only_directory(path: Path) -> Iterator[None]:
    """`path` (a directory) refuses new, renamed and removed entries until the block ends."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = array.array("l", [0])
        try:
            fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
            flags[0] |= _FS_IMMUTABLE_FL
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags)
        except OSError as error:
            pytest.skip(f"cannot make a directory immutable here: {error}")
        try:
            yield
        finally:
            flags[0] &= ~_FS_IMMUTABLE_FL
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags)
    finally:
        os.close(fd)
