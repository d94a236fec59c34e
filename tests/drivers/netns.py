"""A fresh network namespace for driver tests, so that writes to /proc/sys/net never reach the host.

/proc/sys/net shows the network namespace of the *thread* that opens it, and setns(2) moves
only the calling thread. So the namespace gets one worker thread of its own that enters it
once; drivers run there (`run`), in this process, and raise their real exceptions. Before
every call the worker checks that it is still inside the namespace. The `sysctl` tool,
started in the namespace with ``ip netns exec``, is the independent witness (`sysctl`).

Only per-namespace keys (net.*) may be written: keys such as kernel.hostname belong to
other namespaces, which the worker shares with the host.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import secrets
import subprocess
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from tests.support.requirements import namespaces_unavailable

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
CALL_TIMEOUT = 10.0


class NetNamespace:
    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/run/netns/{name}"
        self.inode = os.stat(self.path).st_ino
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"netns-{name}")
        try:
            self._worker.submit(self._enter).result(CALL_TIMEOUT)
        except BaseException:
            self._worker.shutdown()
            raise

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine to completion on the namespace's thread; its exceptions propagate."""
        return self.call(lambda: asyncio.run(coroutine))

    def call(self, function: Callable[[], T]) -> T:
        def inside() -> T:
            if _thread_netns() != self.inode:
                raise RuntimeError(f"the worker thread left network namespace {self.name}")
            return function()

        return self._worker.submit(inside).result(CALL_TIMEOUT)

    def exec(self, *command: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
        """A command run in the namespace (as `user` if given); fails the test if it fails."""
        prefix = ["ip", "netns", "exec", self.name]
        if user is not None:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        return subprocess.run(
            [*prefix, *command], capture_output=True, text=True, check=True, timeout=CALL_TIMEOUT
        )

    def sysctl(self, key: str) -> str:
        """The key's value as the sysctl tool reads it in the namespace."""
        return self.exec("sysctl", "-n", key).stdout.rstrip("\n")

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    def _enter(self) -> None:
        if self.inode == _thread_netns():
            raise RuntimeError(f"{self.path} is this thread's namespace already")
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                error = ctypes.get_errno()
                raise OSError(error, f"setns: {os.strerror(error)}")
        finally:
            os.close(fd)
        if _thread_netns() != self.inode:
            raise RuntimeError(f"setns did not move the worker into {self.name}")


def _thread_netns() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None if they can."""
    return namespaces_unavailable("network", ("ip", "sysctl", "setpriv"))


@contextmanager
def fresh_netns() -> Iterator[NetNamespace]:
    """A new network namespace, deleted afterwards whatever happens."""
    name = f"cosid-test-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        namespace = NetNamespace(name)
        try:
            yield namespace
        finally:
            namespace.close()
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True, capture_output=True)
