"""write_all: several creates and updates as one change, all or nothing, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosid.state.errors import (
    AlreadyExistsError,
    NotFoundError,
    OwnerConflictError,
    PhaseConflictError,
    VersionConflictError,
)
from cosid.state.events import EventType
from cosid.state.resource import Spec
from cosid.state.state import WatchKindOptions
from cosid.state.store import Store
from tests.state.conftest import (
    KIND,
    make_resource,
    next_events,
    open_durable_store,
    ptr,
    resource_ids,
    summary,
)


async def test_creates_and_updates_in_one_change(store: Store) -> None:
    existing = await store.create(make_resource("b"), owner="client")
    watch = await store.watch_kind(KIND)
    changed = existing.with_metadata(labels={"new": "yes"})
    stored = await store.write_all([make_resource("a"), changed, make_resource("c")], "client")
    assert [(r.metadata.id, r.version) for r in stored] == [("a", 1), ("b", 2), ("c", 1)]
    assert stored[1].metadata.labels == {"new": "yes"}
    assert stored[1].metadata.created == existing.metadata.created
    assert {r.metadata.owner for r in stored} == {"client"}
    events = await next_events(watch, 3)
    assert summary(events) == [
        (EventType.CREATED, "a", 1),
        (EventType.UPDATED, "b", 2),
        (EventType.CREATED, "c", 1),
    ]


@pytest.mark.parametrize(
    "refused",
    ["exists", "missing", "stale", "tearing-down", "foreign-owner"],
)
async def test_one_refusal_writes_nothing(store: Store, refused: str) -> None:
    existing = await store.create(make_resource("exists"), owner="client")
    foreign = await store.create(make_resource("foreign-owner"), owner="other")
    tearing = await store.create(make_resource("tearing-down"), owner="client")
    await store.teardown(tearing.pointer, "client")
    tearing = await store.get(tearing.pointer)
    bad = {
        "exists": (make_resource("exists"), AlreadyExistsError),
        "missing": (make_resource("missing", version=3), NotFoundError),
        "stale": (existing.with_metadata(version=7), VersionConflictError),
        "tearing-down": (tearing, PhaseConflictError),
        "foreign-owner": (foreign, OwnerConflictError),
    }
    resource, error = bad[refused]
    before = await store.list(KIND)
    with pytest.raises(error):
        await store.write_all([make_resource("new"), resource], "client")
    assert await store.list(KIND) == before


async def test_a_resource_given_twice_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="more than once"):
        await store.write_all([make_resource("a"), make_resource("a")])
    assert resource_ids(await store.list(KIND)) == []


async def test_nothing_to_write_is_a_no_op(store: Store) -> None:
    assert await store.write_all([]) == []


async def test_a_batch_is_durable_as_a_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = open_durable_store(path)
    await store.write_all([make_resource(f"r{i}", spec=Spec(yaml=f"n: {i}\n")) for i in range(50)])
    store.close()
    reopened = open_durable_store(path)
    try:
        loaded = await reopened.list(KIND)
        assert resource_ids(loaded) == sorted(f"r{i}" for i in range(50))
        assert (await reopened.get(ptr("r7"))).spec.yaml == "n: 7\n"
    finally:
        reopened.close()


async def test_a_failed_journal_write_changes_nothing(tmp_path: Path) -> None:
    store = open_durable_store(tmp_path / "state.db")
    watch = await store.watch_kind(KIND, WatchKindOptions(bootstrap_bookmark=True))
    await next_events(watch, 1)
    store._journal.close()  # the database is gone: the transaction cannot even begin
    try:
        with pytest.raises(Exception, match="closed"):
            await store.write_all([make_resource("a"), make_resource("b")])
        assert await store.list(KIND) == []
    finally:
        store.close()
