"""`Runtime.settled`: the daemon's readiness waits for every stored item to be attempted once,
and for nothing else."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cosid.runtime.controller import ChangeStream
from cosid.runtime.runtime import Runtime
from cosid.state.store import Store
from tests.runtime.conftest import FAST, Recorder, widget


async def test_settled_waits_until_every_stored_item_was_reconciled(store: Store) -> None:
    await store.create(widget("a"))
    await store.create(widget("b"))
    recorder = Recorder(blocked={"b": asyncio.Event()})
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:
        settling = asyncio.ensure_future(runtime.settled())
        await asyncio.sleep(0.2)
        assert not settling.done(), "b is still being reconciled"

        recorder.blocked["b"].set()

        assert await asyncio.wait_for(settling, 2) == 2
        assert sorted(item for item, _ in recorder.reconciled) == ["a", "b"]
    finally:
        await runtime.stop()


async def test_a_failing_item_counts_as_attempted(store: Store) -> None:
    await store.create(widget("bad"))
    await store.create(widget("good"))
    recorder = Recorder(failing={"bad": OSError("refused")})
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:
        assert await asyncio.wait_for(runtime.settled(), 2) == 2
        assert [item for item, _ in recorder.reconciled] == ["good"]
    finally:
        await runtime.stop()


async def test_settling_is_once_at_the_start_not_after_every_change(store: Store) -> None:
    recorder = Recorder(blocked={"late": asyncio.Event()})
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:
        assert await asyncio.wait_for(runtime.settled(), 2) == 0, "nothing stored: at once"
        await store.create(widget("late"))
        await asyncio.sleep(0.05)

        assert await asyncio.wait_for(runtime.settled(), 2) == 0, "a later item holds nothing"
    finally:
        recorder.blocked["late"].set()
        await runtime.stop()


@dataclass
class CannotStart(Recorder):
    """A controller whose run crashes at every start, before any item is attempted."""

    def changes(self) -> ChangeStream:
        raise RuntimeError("no change notices today")


async def test_a_controller_that_crashes_does_not_hold_readiness(store: Store) -> None:
    await store.create(widget("a"))
    crashing = CannotStart()
    runtime = Runtime(store, [crashing], backoff=FAST)
    runtime.start()
    try:
        assert await asyncio.wait_for(runtime.settled(), 2) == 0
        assert runtime.metrics()["widgets"].restarts >= 1
    finally:
        await runtime.stop()
