"""A private mount namespace for mount tests, so that nothing mounted there reaches the host.

mount(2) acts in the mount namespace of the *calling thread*, and unshare(CLONE_NEWNS) moves
only the calling thread into a new one (a copy of the host's table). So the namespace gets one
worker thread of its own that unshares once and makes every mount in it private (mount
--make-rprivate /), so that no mount or unmount there propagates to the host's peers; drivers
(and whole runtimes) run there (`run`), in this process, and raise their real exceptions.
Before every call the worker checks that it is still in its own namespace, not the host's.
`findmnt`, run in the namespace with ``nsenter``, is the independent witness (`findmnt`), and
`exec` changes things there behind cosid's back (``mount``, ``umount``).

`cosid.drivers.libc` is not used here: the helper must not depend on what it helps to test.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.requirements import namespaces_unavailable

T = TypeVar("T")

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
CALL_TIMEOUT = 10.0

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]


class MountNamespace:
    def __init__(self) -> None:
        self.host_inode = _inode(f"/proc/{os.getpid()}/ns/mnt")
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mntns")
        try:
            self.tid, self.inode = self._worker.submit(self._enter).result(CALL_TIMEOUT)
        except BaseException:
            self._worker.shutdown()
            raise

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Runs a coroutine to completion on the namespace's thread; its exceptions propagate."""
        return self.call(lambda: asyncio.run(coroutine), timeout)

    def call(self, function: Callable[[], T], timeout: float = CALL_TIMEOUT) -> T:
        def inside() -> T:
            here = _inode("/proc/thread-self/ns/mnt")
            if here != self.inode or here == self.host_inode:
                raise RuntimeError("the worker thread left its mount namespace")
            return function()

        return self._worker.submit(inside).result(timeout)

    def exec(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command run in the namespace; fails the test if it fails (unless `check` is off)."""
        return subprocess.run(
            ["nsenter", f"--mount=/proc/{self.tid}/ns/mnt", *command],
            capture_output=True,
            text=True,
            check=check,
            timeout=CALL_TIMEOUT,
        )

    def findmnt(self, path: Path | str) -> list[dict[str, Any]]:
        """The mounts at `path` as findmnt sees them in the namespace, bottom first (empty when
        nothing is mounted there)."""
        found = self.exec(
            "findmnt", "-J", "-n", "-o", "ID,PARENT,TARGET,SOURCE,FSTYPE,OPTIONS", "--mountpoint",
            str(path), check=False,
        )  # fmt: skip
        if found.returncode != 0:
            return []
        mounts: list[dict[str, Any]] = json.loads(found.stdout)["filesystems"]
        return mounts

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    def _enter(self) -> tuple[int, int]:
        if _libc.unshare(CLONE_NEWNS) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"unshare: {os.strerror(error)}")
        inode = _inode("/proc/thread-self/ns/mnt")
        if inode == self.host_inode:
            raise RuntimeError("unshare did not give the worker a mount namespace of its own")
        if _libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"mount --make-rprivate /: {os.strerror(error)}")
        return threading.get_native_id(), inode


def _inode(path: str) -> int:
    return os.stat(path).st_ino


def host_mounts_below(directory: Path) -> list[str]:
    """The host's mount points at or below `directory` (read from the main thread, which stays
    in the host's namespace)."""
    real = os.path.realpath(directory)
    with open(f"/proc/{os.getpid()}/mountinfo") as table:
        points = [line.split(" ")[4] for line in table]
    return [point for point in points if point == real or point.startswith(f"{real}/")]


def unavailable() -> str | None:
    """Why mount namespaces cannot be made here, or None if they can."""
    return namespaces_unavailable("mount", ("nsenter", "findmnt", "mount", "umount"))


@contextmanager
def guarded_mountns(directory: Path) -> Iterator[MountNamespace]:
    """A worker thread in a new, private mount namespace for a test working in `directory`:
    skipped where it cannot be made, and failing the test if the host got a mount there."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    namespace = MountNamespace()
    try:
        yield namespace
    finally:
        namespace.close()
    assert host_mounts_below(directory) == [], "a test mounted something on the host"
