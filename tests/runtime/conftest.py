"""A recording controller over an in-memory store: the runtime is tested without any driver.

The controller is a test double of a domain (the runtime's subject is everything around it);
it records what it was asked and can be told to block or fail per item.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cosid.resources.document import from_spec
from cosid.runtime.backoff import Backoff
from cosid.runtime.conditions import Condition, condition_pointer
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.runtime import Runtime
from cosid.runtime.writer import OutputWriter
from cosid.state.errors import NotFoundError
from cosid.state.resource import Kind, Metadata, Pointer, Resource, Spec
from cosid.state.store import Store

SPECS = Kind("config", "Widgets.test.cosi.dev")
STATUSES = Kind("status", "WidgetStatuses.test.cosi.dev")
FAST = Backoff(initial_seconds=0.01, max_seconds=0.05)


@dataclass
class Recorder:
    name: str = "widgets"
    inputs: tuple[Input, ...] = (Input(SPECS, Strength.STRONG),)
    outputs: tuple[Output, ...] = (Output(STATUSES),)
    resync_seconds: float | None = None
    watched_paths: tuple[Path, ...] = ()
    reconciled: list[tuple[str, int]] = field(default_factory=list)
    torn_down: list[str] = field(default_factory=list)
    failing: dict[str, Exception] = field(default_factory=dict)
    blocked: dict[str, asyncio.Event] = field(default_factory=dict)
    writes_to: Kind = STATUSES
    outcome: Outcome = Outcome.APPLIED

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        item_id = item.metadata.id
        if item_id in self.blocked:
            await self.blocked[item_id].wait()
        if item_id in self.failing:
            raise self.failing[item_id]
        self.reconciled.append((item_id, item.version))
        status = Pointer(self.writes_to.namespace, self.writes_to.type, item_id)
        await writer.put(status, Spec(yaml=item.spec.yaml))
        return self.outcome

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        if item.metadata.id in self.failing:
            raise self.failing[item.metadata.id]
        self.torn_down.append(item.metadata.id)
        await writer.destroy(Pointer(STATUSES.namespace, STATUSES.type, item.metadata.id))


def widget(item_id: str, text: str = "on") -> Resource:
    return Resource(Metadata(SPECS.namespace, SPECS.type, item_id), Spec(yaml=f"text: {text}\n"))


def spec_pointer(item_id: str) -> Pointer:
    return Pointer(SPECS.namespace, SPECS.type, item_id)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 2.0) -> None:
    """Wait for a condition of the store; fails the test if it never holds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("the runtime did not get there in time")
        await asyncio.sleep(0.005)


async def settled(count: Callable[[], int], within: float = 1.0) -> int:
    """The count once it holds still for 0.1 s; fails the test if it keeps moving (a loop)."""
    deadline = asyncio.get_running_loop().time() + within
    last = count()
    while True:
        await asyncio.sleep(0.1)
        if count() == last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("still reconciling: a loop")
        last = count()


async def condition_of(
    store: Store, controller: str, item_id: str, kind: Kind = SPECS
) -> Condition | None:
    try:
        item = Pointer(kind.namespace, kind.type, item_id)
        resource = await store.get(condition_pointer(controller, item))
    except NotFoundError:
        return None
    return from_spec(Condition, resource.spec)


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def runtime(store: Store, recorder: Recorder) -> AsyncIterator[Runtime]:
    started = Runtime(store, [recorder], backoff=FAST)
    started.start()
    yield started
    await started.stop()
