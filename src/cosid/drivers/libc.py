"""The C library through ctypes: the few system calls Python's os module does not wrap.

One handle for the whole daemon, loaded with ``use_errno`` so that a failed call's errno is
read right after it, on the same thread (ctypes keeps a private errno per thread). The
wrappers raise OSError like the os module does.

Namespaces are per thread: sethostname(2) and setdomainname(2) change the UTS namespace of the
calling thread, and gethostname/getdomainname read it; mount(2) and umount2(2) act in its mount
namespace, which `unshare` (CLONE_FS) and `setns` let one thread leave for another.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from typing import Final

LIBC: Final = ctypes.CDLL(None, use_errno=True)
LIBC.unshare.argtypes = [ctypes.c_int]
LIBC.setns.argtypes = [ctypes.c_int, ctypes.c_int]
LIBC.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
LIBC.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
LIBC.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
LIBC.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
LIBC.gethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
LIBC.getdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
LIBC.inotify_init1.argtypes = [ctypes.c_int]
LIBC.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
LIBC.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
LIBC.delete_module.argtypes = [ctypes.c_char_p, ctypes.c_uint]
LIBC.syscall.restype = ctypes.c_long

_FINIT_MODULE: Final = {
    "x86_64": 313,
    "aarch64": 273,
    "arm64": 273,
    "riscv64": 273,
    "ppc64le": 353,
    "s390x": 344,
    "i686": 350,
    "armv7l": 379,
}
"""finit_module(2)'s number per architecture: glibc has no wrapper for it (it has one for
delete_module)."""

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


def mount(
    source: bytes | None, target: bytes, fstype: bytes | None, flags: int, data: bytes | None
) -> None:
    """mount(2) in the calling thread's mount namespace (``MS_*`` flags; `data` is the file
    system's option string, None for none)."""
    if LIBC.mount(source, target, fstype, flags, data) != 0:
        raise last_error()


def umount2(target: bytes, flags: int) -> None:
    """umount2(2): unmount the topmost mount at `target` (``MNT_DETACH`` detaches a busy one
    lazily; ``UMOUNT_NOFOLLOW`` refuses a symlink as the last component)."""
    if LIBC.umount2(target, flags) != 0:
        raise last_error()


def unshare(flags: int) -> None:
    """unshare(2): give the calling thread its own copy of what `flags` names (``CLONE_FS``:
    its root, working directory and umask, which setns(2) into a mount namespace needs)."""
    if LIBC.unshare(flags) != 0:
        raise last_error()


def setns(fd: int, nstype: int) -> None:
    """setns(2): move the calling thread into the namespace `fd` refers to (``CLONE_NEW*``
    names the kind expected; 0 accepts any)."""
    if LIBC.setns(fd, nstype) != 0:
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


def finit_module(fd: int, parameters: bytes, flags: int) -> None:
    """finit_module(2): load the module whose image `fd` reads, with `parameters` (``a=1 b=x``).
    `flags` may ask the kernel to decompress the image itself (MODULE_INIT_COMPRESSED_FILE).
    ENOSYS on a kernel without module support (or an architecture missing from the table)."""
    number = _FINIT_MODULE.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, f"finit_module's number on {platform.machine()} is unknown")
    result = LIBC.syscall(
        ctypes.c_long(number), ctypes.c_int(fd), ctypes.c_char_p(parameters), ctypes.c_int(flags)
    )
    if result != 0:
        raise last_error()


def delete_module(name: bytes, flags: int) -> None:
    """delete_module(2): unload a module by name. With O_NONBLOCK a module in use fails at once
    (EWOULDBLOCK) rather than waiting; ENOENT when no such module is loaded."""
    if LIBC.delete_module(name, flags) != 0:
        raise last_error()


def _get(function: ctypes._NamedFuncPointer) -> bytes:
    buffer = ctypes.create_string_buffer(UTS_FIELD_BYTES + 1)
    if function(buffer, UTS_FIELD_BYTES) != 0:
        raise last_error()
    return buffer.value
