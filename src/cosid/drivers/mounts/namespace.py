"""The mount namespace the mount drivers act in: the calling thread's (`OwnMountNamespace`), or
another one, PID 1's for cosid.service (`EnteredMountNamespace`).

Why another: a hardened service (ProtectSystem, PrivateTmp...) runs in a mount namespace of its
own, where a mount never reaches the node. mount(2), umount2(2), path lookups and mountinfo all
act in the mount namespace of the calling *thread*, so one worker thread enters the node's
namespace for good and makes every one of the driver's blocking calls there: it leaves the
fs_struct it shares with the other threads (unshare CLONE_FS: setns(2) into a mount namespace
refuses a thread that shares it), then setns(2)s into the namespace file (``/proc/1/ns/mnt``).
That needs CAP_SYS_ADMIN and CAP_SYS_CHROOT, and opening the file is a ptrace read check of
PID 1: a process with fewer capabilities than PID 1 (a bounded service) needs CAP_SYS_PTRACE
for it (`NEEDED`). File descriptors stay shared with the process, so what the worker opens is
handed to the kernel as ``/proc/self/fd`` links from there too.

The mount table is read, and watched for POLLPRI, through the worker's mountinfo
(``/proc/self/task/<tid>/mountinfo``): a mountinfo file shows the namespace of the thread it
belongs to, whichever thread opens it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final, Protocol, TypeVar

from cosid.drivers import libc
from cosid.drivers.mounts.mountinfo import MOUNTINFO

T = TypeVar("T")

INIT_NAMESPACE: Final = "/proc/1/ns/mnt"
CLONE_FS: Final = 0x00000200
CLONE_NEWNS: Final = 0x00020000
NEEDED: Final = "CAP_SYS_ADMIN, CAP_SYS_CHROOT and CAP_SYS_PTRACE"
"""What entering another process's mount namespace takes, for the start-up error."""


class MountNamespace(Protocol):
    """Where the driver's blocking calls run, and the mount table they see."""

    @property
    def table(self) -> str:
        """The mountinfo file of the namespace (readable from any thread)."""
        ...

    async def run(self, call: Callable[[], T]) -> T:
        """`call()` in the namespace; its result, or its exception."""
        ...


class OwnMountNamespace:
    """The calling thread's namespace: calls run inline (a mount takes a few milliseconds)."""

    table: Final = MOUNTINFO

    async def run(self, call: Callable[[], T]) -> T:
        return call()


class EnteredMountNamespace:
    """The namespace of the file at `path`, entered by one worker thread that runs every call
    in turn. Entering starts at once; a failure is raised by every call (and by `check`)."""

    def __init__(self, path: str = INIT_NAMESPACE) -> None:
        self.path = path
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mountns")
        self._entered: Future[int] = self._worker.submit(self._enter)

    @property
    def table(self) -> str:
        return f"/proc/self/task/{self._entered.result()}/mountinfo"

    async def run(self, call: Callable[[], T]) -> T:
        return await asyncio.wrap_future(self._worker.submit(self._inside, call))

    async def check(self) -> None:
        """Prove at start-up that the namespace was entered.

        Raises a ConnectionError saying why not (no such file, no CAP_SYS_CHROOT...)."""
        try:
            await asyncio.wrap_future(self._entered)
        except OSError as error:
            raise ConnectionError(
                f"cannot enter the mount namespace {self.path}: {error.strerror} "
                f"(it takes {NEEDED})"
            ) from None

    def close(self) -> None:
        """Stop the worker (after the calls already queued)."""
        self._worker.shutdown(wait=True)

    def _inside(self, call: Callable[[], T]) -> T:
        self._entered.result()  # done before: the worker runs one thing at a time, in order
        return call()

    def _enter(self) -> int:
        libc.unshare(CLONE_FS)
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            libc.setns(fd, CLONE_NEWNS)
        finally:
            os.close(fd)
        return threading.get_native_id()
