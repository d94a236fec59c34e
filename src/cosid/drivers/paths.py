"""Opening files under a root prefix without following a symlink anywhere on the way.

Drivers build paths from validated names (no ``..``, nothing absolute), so lexically a path
stays under its root prefix; only a symlink could lead it elsewhere. `open_no_symlinks`
refuses every symlink, which the trees drivers touch (/proc/sys) do not have anyway.

Where the kernel has openat2(2) (Linux 5.6), one call does it: RESOLVE_NO_SYMLINKS makes the
kernel refuse symlinks while it resolves, with no window between check and open. Elsewhere
the path is compared with its os.path.realpath first, then opened with O_NOFOLLOW. Both
fail with ELOOP. The openat2 way costs about as much as a plain open; the realpath way a
few system calls per path component.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from collections.abc import Callable
from typing import Final

_SYS_OPENAT2: Final = 437
"""The same number on every architecture that has it (new system calls share one table)."""
_ARCHITECTURES: Final = frozenset(
    {"x86_64", "aarch64", "arm64", "armv7l", "i686", "riscv64", "ppc64le", "s390x"}
)
_AT_FDCWD: Final = -100
_RESOLVE_NO_SYMLINKS: Final = 0x04


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


def _load_openat2() -> Callable[..., int] | None:
    """The libc syscall entry if openat2 works here (probed once), else None."""
    if platform.system() != "Linux" or platform.machine() not in _ARCHITECTURES:
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    how = _OpenHow(os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, _RESOLVE_NO_SYMLINKS)
    fd = syscall(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(_AT_FDCWD),
        ctypes.c_char_p(b"/"),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:  # ENOSYS (old kernel), EPERM (a seccomp filter), ...
        return None
    os.close(fd)
    call: Callable[..., int] = syscall
    return call


_openat2 = _load_openat2()


def open_no_symlinks(path: str, flags: int, *, use_openat2: bool = True) -> int:
    """os.open(path, flags), but OSError(ELOOP) if any component of `path` is a symlink.

    `path` must be absolute and normalised. `use_openat2=False` forces the realpath way
    (tests prove both).
    """
    if not os.path.isabs(path) or os.path.normpath(path) != path:
        raise ValueError(f"{path!r} is not an absolute, normalised path")
    if use_openat2 and _openat2 is not None:
        how = _OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE_NO_SYMLINKS)
        fd = _openat2(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(_AT_FDCWD),
            ctypes.c_char_p(os.fsencode(path)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        return fd
    if os.path.realpath(path) != path:
        raise OSError(errno.ELOOP, "a component of the path is a symlink")
    return os.open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW)


def openat2_available() -> bool:
    return _openat2 is not None
