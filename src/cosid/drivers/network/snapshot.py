"""One read of the kernel's state shared by every reconcile of a burst: reading 1000 routes
once per burst instead of once per route (a dump of every route costs the same as a dump
filtered to one: the kernel sends them all, and pyroute2 parses each).

A snapshot is valid until a change: the kernel's change notice (`SnapshotChanges`) or cosid's
own write (`invalidate`). A reader is served by a read that started after the last change
before it asked, so the readers that queue up during a read share the next one: a burst of
1000 writes, each followed by its own read, costs a few reads, not 1000.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from cosid.drivers.network.driver import LinkChanges
from cosid.runtime.controller import Notice

T = TypeVar("T")


class Snapshot(Generic[T]):
    """The result of `read`, shared until it is invalidated."""

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._lock = asyncio.Lock()
        self._generation = 0
        self._cached: tuple[int, T] | None = None
        self.reads = 0
        """How many reads were made (what a benchmark counts)."""

    async def get(self) -> T:
        """A read at least as new as the last change before this call."""
        wanted = self._generation
        async with self._lock:
            if self._cached is None or self._cached[0] < wanted:
                started = self._generation
                self.reads += 1
                self._cached = (started, await self._read())
            return self._cached[1]

    def invalidate(self) -> None:
        """Something changed: readers from now on need a new read."""
        self._generation += 1

    def following(self, changes: LinkChanges) -> SnapshotChanges:
        """`changes`, invalidating this snapshot on each before the caller hears of it."""
        return SnapshotChanges(changes, self)


class SnapshotChanges:
    """Change notices that invalidate a snapshot as they come (see `Snapshot.following`)."""

    def __init__(self, changes: LinkChanges, snapshot: Snapshot[Any]) -> None:
        self._changes = changes
        self._snapshot = snapshot

    def __aiter__(self) -> SnapshotChanges:
        return self

    async def __anext__(self) -> Notice:
        notice = await anext(self._changes)
        self._snapshot.invalidate()
        return notice

    def close(self) -> None:
        self._changes.close()
