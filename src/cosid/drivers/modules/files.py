"""Reading the files the module driver needs: the index, modprobe.d, /proc, /sys and modules."""

from __future__ import annotations

import os

from cosid.drivers.files import read_all
from cosid.drivers.paths import open_no_symlinks


def read_bounded(path: str, limit: int) -> bytes:
    """The file's content, opened without following any symlink (`open_no_symlinks`);
    OSError as the os module raises it, EFBIG for a file of more than `limit` bytes.
    Non-blocking, so a FIFO put where a file belongs cannot hang the driver."""
    fd = open_no_symlinks(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return read_all(fd, limit)
    finally:
        os.close(fd)
