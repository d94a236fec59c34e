"""The per-burst snapshot alone: readers share a read until a change, and a reader is never
served a read that started before a change it could know of."""

from __future__ import annotations

import asyncio

from cosid.drivers.network.snapshot import Snapshot
from cosid.runtime.controller import Notice


class Counter:
    """A read that takes a moment and says which read it was."""

    def __init__(self) -> None:
        self.reads = 0
        self.gate = asyncio.Event()

    async def read(self) -> int:
        self.reads += 1
        await self.gate.wait()
        return self.reads


async def test_readers_share_a_read_until_a_change() -> None:
    counter = Counter()
    snapshot = Snapshot(counter.read)
    counter.gate.set()
    assert await asyncio.gather(*(snapshot.get() for _ in range(100))) == [1] * 100
    snapshot.invalidate()
    assert [await snapshot.get(), await snapshot.get()] == [2, 2]
    assert snapshot.reads == 2


async def test_a_change_during_a_read_needs_the_next_read_and_its_waiters_share_it() -> None:
    counter = Counter()
    snapshot = Snapshot(counter.read)
    first = asyncio.create_task(snapshot.get())
    await asyncio.sleep(0)  # the first read has started
    snapshot.invalidate()  # e.g. cosid's own write finished meanwhile
    later = [asyncio.create_task(snapshot.get()) for _ in range(10)]
    counter.gate.set()
    assert await first == 1
    assert await asyncio.gather(*later) == [2] * 10


async def test_changes_invalidate_before_the_caller_hears_of_them() -> None:
    class Changes:
        def __init__(self) -> None:
            self.closed = False

        def __aiter__(self) -> Changes:
            return self

        async def __anext__(self) -> Notice:
            return Notice.OWN

        def close(self) -> None:
            self.closed = True

    counter = Counter()
    counter.gate.set()
    snapshot = Snapshot(counter.read)
    changes = Changes()
    following = snapshot.following(changes)
    assert await snapshot.get() == 1
    await anext(following)
    assert await snapshot.get() == 2
    following.close()
    assert changes.closed
