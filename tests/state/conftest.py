"""Fixtures and helpers of the store conformance suite, run against every backend.

Every test gets a fresh store of each backend: the in-memory one, and the durable one (an
SQLite journal in the test's tmp_path) where the test namespace is durable, so that every
behaviour is also checked with the journal in the write path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Protocol

import pytest

from cosid.state.events import Event, EventType
from cosid.state.resource import UNDEFINED_VERSION, Kind, Metadata, Phase, Pointer, Resource, Spec
from cosid.state.sqlite import SqliteJournal
from cosid.state.state import EventBatch, State
from cosid.state.store import DEFAULT_HISTORY_CAPACITY, Store

NS = "default"
"""The namespace most tests use; durable in the durable backend."""
EPHEMERAL_NS = "scratch"
"""A namespace that is never durable."""
TYPE = "Tests.test.cosi.dev"
KIND = Kind(NS, TYPE)
READ_TIMEOUT = 1.0
"""Clients time out after about a second: an event later than that is as good as lost."""

BACKENDS = ["memory", "sqlite"]


class StoreFactory(Protocol):
    def __call__(self, *, history_capacity: int = DEFAULT_HISTORY_CAPACITY) -> Store: ...


def open_durable_store(path: Path, history_capacity: int = DEFAULT_HISTORY_CAPACITY) -> Store:
    """The durable backend: NS is written to the journal at `path`, EPHEMERAL_NS is not."""
    return Store(SqliteJournal(path), durable_namespaces={NS}, history_capacity=history_capacity)


def as_state(store: Store) -> State:
    """Never called: mypy checks here that Store implements the State protocol."""
    return store


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def store_factory(backend: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes stores of the test's backend (each on its own file); closes them afterwards."""
    stores: list[Store] = []

    def make(*, history_capacity: int = DEFAULT_HISTORY_CAPACITY) -> Store:
        if backend == "memory":
            store = Store(history_capacity=history_capacity)
        else:
            store = open_durable_store(tmp_path / f"state-{len(stores)}.db", history_capacity)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    return store_factory()


def ptr(id: str, *, ns: str = NS, type: str = TYPE) -> Pointer:
    return Pointer(ns, type, id)


def make_resource(
    id: str,
    *,
    ns: str = NS,
    type: str = TYPE,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    finalizers: tuple[str, ...] = (),
    phase: Phase = Phase.RUNNING,
    version: int = UNDEFINED_VERSION,
    spec: Spec | None = None,
) -> Resource:
    """A resource as a client sends it to Create."""
    metadata = Metadata(
        namespace=ns,
        type=type,
        id=id,
        version=version,
        phase=phase,
        finalizers=finalizers,
        labels=dict(labels or {}),
        annotations=dict(annotations or {}),
    )
    return Resource(metadata, spec if spec is not None else Spec(yaml=f"id: {id}\n"))


async def next_batch(it: AsyncIterator[EventBatch]) -> EventBatch:
    """The next batch of a watch; fails the test instead of hanging."""
    return await asyncio.wait_for(anext(it), READ_TIMEOUT)


async def next_events(it: AsyncIterator[EventBatch], n: int) -> list[Event]:
    """Exactly the next `n` events, however they are batched (more in the last batch fails)."""
    events: list[Event] = []
    while len(events) < n:
        events.extend(await next_batch(it))
    assert len(events) == n, f"expected {n} events, got {len(events)}: {summary(events)}"
    return events


async def assert_ended(it: AsyncIterator[EventBatch]) -> None:
    """The watch's iterator has finished (and promptly so)."""
    with pytest.raises(StopAsyncIteration):
        await next_batch(it)


def summary(events: list[Event]) -> list[tuple[EventType, str, int]]:
    """(type, id, version) of each event: what most assertions compare."""
    return [
        (
            event.type,
            event.resource.metadata.id if event.resource else "-",
            event.resource.version if event.resource else -1,
        )
        for event in events
    ]


def resource_ids(resources: list[Resource]) -> list[str]:
    return [resource.metadata.id for resource in resources]
