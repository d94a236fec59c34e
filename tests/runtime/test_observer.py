"""Observers under the runtime: observations written (the first one complete, removing what it
does not name), labels kept, a crashed observer restarted, and an item's condition waiting for
the observers to catch up. The observer is a test double: the runtime is the subject."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from cosid.runtime.controller import Output
from cosid.runtime.observer import Observation, Observed
from cosid.runtime.runtime import Runtime
from cosid.state.resource import Kind, Metadata, Pointer, Resource, Spec
from cosid.state.store import Store
from tests.runtime.conftest import FAST, SPECS, Recorder, condition_of, eventually, widget

SEEN = Kind("status", "Sightings.test.cosi.dev")


def at(id: str) -> Pointer:
    return Pointer(SEEN.namespace, SEEN.type, id)


def seen(text: str, **labels: str) -> Observed:
    return Observed(Spec(yaml=text), labels)


class Script:
    """Yields the observations it is given; the first run can be told to crash."""

    name = "spotter"
    outputs = (Output(SEEN),)
    serves = ("widgets",)

    def __init__(self, crash_first: bool = False) -> None:
        self.queue: asyncio.Queue[Observation] = asyncio.Queue()
        self.crash_first = crash_first
        self.runs = 0
        self.behind = asyncio.Event()
        self.behind.set()

    async def observe(self) -> AsyncIterator[Observation]:
        self.runs += 1
        if self.crash_first and self.runs == 1:
            raise RuntimeError("the kernel went away")
        while True:
            yield await self.queue.get()

    async def caught_up(self) -> None:
        await self.behind.wait()


async def ids(store: Store) -> dict[str, tuple[str, dict[str, str]]]:
    return {r.metadata.id: (r.spec.yaml, dict(r.metadata.labels)) for r in await store.list(SEEN)}


async def test_observations_are_written_and_a_complete_one_removes_the_rest() -> None:
    store = Store()
    stale = Resource(Metadata(SEEN.namespace, SEEN.type, "stale"), Spec(yaml="x"))
    await store.create(stale, owner="spotter")  # from a run before this one
    script = Script()
    runtime = Runtime(store, [], backoff=FAST, observers=[script])
    runtime.start()
    try:
        script.queue.put_nowait(Observation({at("a"): seen("1", k="v")}, complete=True))
        await runtime.settled()
        assert await ids(store) == {"a": ("1", {"k": "v"})}
        script.queue.put_nowait(Observation({at("a"): None, at("b"): seen("2")}))
        await eventually(lambda: _equal(store, {"b": ("2", {})}))
        assert runtime.metrics()["spotter"].reconciles == 2
    finally:
        await runtime.stop()


async def test_a_crashed_observer_is_restarted_and_counted() -> None:
    store = Store()
    script = Script(crash_first=True)
    runtime = Runtime(store, [], backoff=FAST, observers=[script])
    runtime.start()
    try:
        script.queue.put_nowait(Observation({at("a"): seen("1")}, complete=True))
        await eventually(lambda: _equal(store, {"a": ("1", {})}))
        assert script.runs == 2
        assert runtime.metrics()["spotter"].restarts == 1
    finally:
        await runtime.stop()


async def test_an_item_is_reconciled_only_once_the_observers_caught_up(
    recorder: Recorder,
) -> None:
    store = Store()
    script = Script()
    runtime = Runtime(store, [recorder], backoff=FAST, observers=[script])
    runtime.start()
    try:
        script.queue.put_nowait(Observation({}, complete=True))
        await runtime.settled()
        script.behind.clear()  # the observer has not written what the reconcile changed
        await store.create(widget("w1"))
        await eventually(lambda: _reconciled(recorder))
        await asyncio.sleep(0.05)
        assert await condition_of(store, recorder.name, "w1", SPECS) is None
        script.behind.set()
        await eventually(lambda: _ready(store, recorder.name))
    finally:
        await runtime.stop()


async def _equal(store: Store, wanted: dict[str, tuple[str, dict[str, str]]]) -> bool:
    return await ids(store) == wanted


async def _reconciled(recorder: Recorder) -> bool:
    return bool(recorder.reconciled)


async def _ready(store: Store, controller: str) -> bool:
    condition = await condition_of(store, controller, "w1", SPECS)
    return condition is not None and condition.ready
