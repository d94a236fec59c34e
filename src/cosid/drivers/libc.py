"""The C library through ctypes: the few system calls Python's os module does not wrap.

One handle for the whole daemon, loaded with ``use_errno`` so that a failed call's errno is
read right after it, on the same thread (ctypes keeps a private errno per thread). The
wrappers raise OSError like the os module does.

Namespaces are per thread: sethostname(2) and setdomainname(2) change the UTS namespace of the
calling thread, and gethostname/getdomainname read it.
"""

from __future__ import annotations

import ctypes
import os
from typing import Final

LIBC: Final = ctypes.CDLL(None, use_errno=True)
LIBC.unshare.argtypes = [ctypes.c_int]
LIBC.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
LIBC.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
LIBC.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
LIBC.gethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
LIBC.getdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
LIBC.inotify_init1.argtypes = [ctypes.c_int]
LIBC.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
LIBC.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]

UTS_FIELD_BYTES: Final = 65
"""The kernel's UTS strings: up to 64 bytes (HOST_NAME_MAX) and the terminating NUL."""


def last_error() -> OSError:
    """The errno the last failed call on this thread left, as an OSError."""
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code))


def sethostname(name: bytes) -> None:
    """sethostname(2): the calling thread's UTS namespace gets `name` (the kernel takes the
    bytes as given: EINVAL over 64 bytes, EPERM without CAP_SYS_ADMIN there)."""
    if LIBC.sethostname(name, len(name)) != 0:
        raise last_error()


def setdomainname(name: bytes) -> None:
    """setdomainname(2): as `sethostname`, for the NIS domain name."""
    if LIBC.setdomainname(name, len(name)) != 0:
        raise last_error()


def gethostname() -> bytes:
    """The calling thread's UTS namespace's host name."""
    return _get(LIBC.gethostname)


def getdomainname() -> bytes:
    """The calling thread's UTS namespace's NIS domain name (``(none)`` when never set)."""
    return _get(LIBC.getdomainname)


def inotify_init1(flags: int) -> int:
    """inotify_init1(2): a new inotify instance's file descriptor (EMFILE past the user's
    ``fs.inotify.max_user_instances``)."""
    fd: int = LIBC.inotify_init1(flags)
    if fd < 0:
        raise last_error()
    return fd


def inotify_add_watch(fd: int, path: bytes, mask: int) -> int:
    """inotify_add_watch(2): the watch descriptor for `path` (the same one again for a path
    already watched, whose mask `mask` then replaces)."""
    wd: int = LIBC.inotify_add_watch(fd, path, mask)
    if wd < 0:
        raise last_error()
    return wd


def inotify_rm_watch(fd: int, wd: int) -> None:
    """inotify_rm_watch(2): the kernel drops the watch and queues IN_IGNORED for it."""
    if LIBC.inotify_rm_watch(fd, wd) != 0:
        raise last_error()


def _get(function: ctypes._NamedFuncPointer) -> bytes:
    buffer = ctypes.create_string_buffer(UTS_FIELD_BYTES + 1)
    if function(buffer, UTS_FIELD_BYTES) != 0:
        raise last_error()
    return buffer.value
