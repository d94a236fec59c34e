"""The mount table watcher, on the event loop of a thread with a private mount namespace: it
wakes on a change made there (by the `mount` tool, behind the loop's back), coalesces bursts,
stays asleep otherwise, and ends when closed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosid.drivers.mounts.watch import MountTableWatcher
from cosid.runtime.controller import Notice
from tests.drivers.mountns import MountNamespace, guarded_mountns

QUIET = 0.2
"""How long a watcher must stay asleep to count as not woken."""


@pytest.fixture
def mountns(tmp_path: Path) -> Iterator[MountNamespace]:
    with guarded_mountns(tmp_path) as namespace:
        yield namespace


async def woken(watcher: MountTableWatcher, within: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(anext(watcher), within)
    except TimeoutError:
        return False
    return True


async def tool(mountns: MountNamespace, *command: str) -> None:
    """A command in the namespace, run without blocking the loop that watches."""
    await asyncio.to_thread(mountns.exec, *command)


def test_a_change_wakes_it_once(mountns: MountNamespace, tmp_path: Path) -> None:
    async def scenario() -> None:
        watcher = MountTableWatcher()
        try:
            assert not await woken(watcher, QUIET), "no change yet"
            await tool(mountns, "mount", "-t", "tmpfs", "watched", str(tmp_path))
            assert await woken(watcher)
            assert not await woken(watcher, QUIET), "one change, one wake"
            await tool(mountns, "mount", "-o", "remount,ro", str(tmp_path))
            assert await woken(watcher), "a remount is a change"
            for _ in range(3):
                await tool(mountns, "mount", "-t", "tmpfs", "burst", str(tmp_path))
            await tool(mountns, "umount", "-R", str(tmp_path))
            assert await woken(watcher)
            assert not await woken(watcher, QUIET), "changes while nobody waited wake once"
        finally:
            watcher.close()

    mountns.run(scenario())


def test_close_ends_the_iteration(mountns: MountNamespace) -> None:
    async def scenario() -> list[Notice]:
        watcher = MountTableWatcher()
        asyncio.get_running_loop().call_later(0.05, watcher.close)
        seen = [change async for change in watcher]
        watcher.close()  # twice is harmless
        return seen

    assert mountns.run(scenario()) == []
