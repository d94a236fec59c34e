"""A fresh UTS namespace for hostname tests, so that setting a hostname never reaches the host.

sethostname(2) changes the UTS namespace of the *calling thread*, and unshare(2) moves only the
calling thread into a new one. So the namespace gets one worker thread of its own that unshares
once; drivers (and whole runtimes) run there (`run`), in this process, and raise their real
exceptions. Before every call the worker checks that it is still in its own namespace, not the
host's: nothing here ever sets a name anywhere else. The `hostname` and `domainname`
tools, started in the namespace with ``nsenter``, are the independent witnesses (`witness`).

`cosid.drivers.libc` is not used here: the helper must not depend on what it helps to test.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from tests.support.requirements import namespaces_unavailable

T = TypeVar("T")

CLONE_NEWUTS = 0x04000000
CAP_DAC_OVERRIDE = 1
CAP_SYS_ADMIN = 21
CALL_TIMEOUT = 10.0
_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def host_names() -> tuple[str, str]:
    """The host's hostname and domain name, read by the tools in the UTS namespace of this
    process's main thread (the host's: only the workers leave it)."""
    return _read_in(os.getpid())


class UtsNamespace:
    def __init__(self) -> None:
        self.host_inode = _inode(f"/proc/{os.getpid()}/ns/uts")
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uts")
        try:
            self.tid, self.inode = self._worker.submit(self._enter).result(CALL_TIMEOUT)
        except BaseException:
            self._worker.shutdown()
            raise

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine to completion on the namespace's thread; its exceptions propagate."""
        return self.call(lambda: asyncio.run(coroutine))

    def call(self, function: Callable[[], T]) -> T:
        def inside() -> T:
            here = _inode("/proc/thread-self/ns/uts")
            if here != self.inode or here == self.host_inode:
                raise RuntimeError("the worker thread left its UTS namespace")
            return function()

        return self._worker.submit(inside).result(CALL_TIMEOUT)

    def uname(self) -> tuple[str, str]:
        """The hostname and domain name as os.uname() and /proc/sys show them on the worker."""

        def names() -> tuple[str, str]:
            with open("/proc/sys/kernel/domainname") as file:
                return os.uname().nodename, file.read().rstrip("\n")

        return self.call(names)

    def witness(self) -> tuple[str, str]:
        """The hostname and domain name as the `hostname` and `domainname` tools see them in the
        namespace."""
        return _read_in(self.tid)

    @contextmanager
    def without(self, capability: int) -> Iterator[None]:
        """The worker without `capability` in its effective set (capabilities are per thread;
        it stays permitted, and is raised again afterwards)."""
        self.call(lambda: _set_effective(capability, False))
        try:
            yield
        finally:
            self.call(lambda: _set_effective(capability, True))

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    def _enter(self) -> tuple[int, int]:
        if _libc.unshare(CLONE_NEWUTS) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"unshare: {os.strerror(error)}")
        inode = _inode("/proc/thread-self/ns/uts")
        if inode == self.host_inode:
            raise RuntimeError("unshare did not give the worker a UTS namespace of its own")
        return threading.get_native_id(), inode


def _inode(path: str) -> int:
    return os.stat(path).st_ino


def _read_in(tid: int) -> tuple[str, str]:
    def tool(name: str) -> str:
        return subprocess.run(
            ["nsenter", f"--uts=/proc/{tid}/ns/uts", name],
            capture_output=True,
            text=True,
            check=True,
            timeout=CALL_TIMEOUT,
        ).stdout.rstrip("\n")

    return tool("hostname"), tool("domainname")


def _set_effective(capability: int, enabled: bool) -> None:
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    word, bit = divmod(capability, 32)
    if enabled:
        data[word].effective |= 1 << bit
    else:
        data[word].effective &= ~(1 << bit)
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def unavailable() -> str | None:
    """Why UTS namespaces cannot be made here, or None if they can."""
    return namespaces_unavailable("UTS", ("nsenter", "hostname", "domainname"))


@contextmanager
def fresh_uts() -> Iterator[UtsNamespace]:
    """A worker thread in a new UTS namespace; the namespace goes with the thread."""
    namespace = UtsNamespace()
    try:
        yield namespace
    finally:
        namespace.close()


@contextmanager
def guarded_uts() -> Iterator[UtsNamespace]:
    """`fresh_uts` for a test: skipped where it cannot be made, and failing the test if the
    host's names changed meanwhile."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    before = host_names()
    with fresh_uts() as namespace:
        yield namespace
    assert host_names() == before, "a test changed the host's hostname or domain name"


def set_in(namespace: UtsNamespace, hostname: str) -> None:
    """Set the namespace's hostname with the `hostname` tool, as someone behind cosid's back."""
    subprocess.run(
        ["nsenter", f"--uts=/proc/{namespace.tid}/ns/uts", "hostname", hostname],
        capture_output=True,
        check=True,
        timeout=CALL_TIMEOUT,
    )
