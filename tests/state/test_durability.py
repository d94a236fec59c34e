"""What the durable backend keeps across a restart: a new Store on the same SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosid.state.errors import InvalidBookmarkError, NotFoundError, VersionConflictError
from cosid.state.events import EventType
from cosid.state.resource import Kind, Phase, Resource, Spec
from cosid.state.sqlite import SqliteJournal
from cosid.state.state import WatchKindOptions
from cosid.state.store import Store
from tests.state.conftest import (
    EPHEMERAL_NS,
    KIND,
    TYPE,
    make_resource,
    next_events,
    open_durable_store,
    ptr,
    resource_ids,
)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


async def populate(store: Store) -> dict[str, Resource]:
    """Creates, updates and destroys; returns what the store answered for the survivors."""
    plain = await store.create(make_resource("plain"), owner="controller")
    labelled = await store.create(
        make_resource(
            "nested/labelled",
            labels={"app": "web", "size": "10Gi"},
            annotations={"note": "ünïcode\nline"},
            spec=Spec(proto=b"\x00\xff\x08\x96\x01", yaml="key: value\n"),
        ),
    )
    labelled = await store.update(labelled.with_metadata(labels={"app": "web", "v": "2"}))
    labelled = await store.update(labelled.with_metadata(finalizers=("f1", "f2")))
    await store.teardown(labelled.pointer)
    labelled = await store.get(labelled.pointer)
    gone = await store.create(make_resource("gone"))
    await store.update(gone)
    await store.destroy(ptr("gone"))
    return {"nested/labelled": labelled, "plain": plain}


async def test_resources_survive_a_restart_intact(db_path: Path) -> None:
    store = open_durable_store(db_path)
    stored = await populate(store)
    store.close()

    reopened = open_durable_store(db_path)
    try:
        assert resource_ids(await reopened.list(KIND)) == ["nested/labelled", "plain"]
        for id, resource in stored.items():
            assert await reopened.get(ptr(id)) == resource
        labelled = stored["nested/labelled"]
        assert labelled.version == 4
        assert labelled.metadata.phase == Phase.TEARING_DOWN
        assert labelled.metadata.labels == {"app": "web", "v": "2"}
        assert labelled.spec == Spec(proto=b"\x00\xff\x08\x96\x01", yaml="key: value\n")
        assert stored["plain"].metadata.owner == "controller"
        with pytest.raises(NotFoundError):
            await reopened.get(ptr("gone"))
    finally:
        reopened.close()


async def test_versions_continue_after_a_restart(db_path: Path) -> None:
    store = open_durable_store(db_path)
    stored = await populate(store)
    store.close()

    reopened = open_durable_store(db_path)
    try:
        plain = stored["plain"]
        with pytest.raises(VersionConflictError):
            await reopened.update(plain.with_metadata(version=2), owner="controller")
        updated = await reopened.update(plain, owner="controller")
        assert updated.version == 2
        assert updated.metadata.created == plain.metadata.created
    finally:
        reopened.close()


async def test_every_change_is_in_the_journal_when_it_returns(db_path: Path) -> None:
    store = open_durable_store(db_path)
    reader = SqliteJournal(db_path)
    try:
        created = await store.create(make_resource("a"))
        assert list(reader.load()) == [created]
        updated = await store.update(created.with_metadata(labels={"x": "1"}))
        assert list(reader.load()) == [updated]
        await store.destroy(ptr("a"))
        assert list(reader.load()) == []
    finally:
        reader.close()
        store.close()


async def test_non_durable_namespaces_are_not_persisted(db_path: Path) -> None:
    store = open_durable_store(db_path)
    await store.create(make_resource("kept"))
    await store.create(make_resource("lost", ns=EPHEMERAL_NS))
    assert resource_ids(await store.list(Kind(EPHEMERAL_NS, TYPE))) == ["lost"]
    store.close()

    reader = SqliteJournal(db_path)
    assert resource_ids(list(reader.load())) == ["kept"]
    reader.close()
    reopened = open_durable_store(db_path)
    try:
        with pytest.raises(NotFoundError):
            await reopened.get(ptr("lost", ns=EPHEMERAL_NS))
        assert resource_ids(await reopened.list(KIND)) == ["kept"]
    finally:
        reopened.close()


async def test_a_namespace_no_longer_durable_is_dropped(db_path: Path) -> None:
    store = open_durable_store(db_path)
    await store.create(make_resource("a"))
    store.close()

    Store(SqliteJournal(db_path), durable_namespaces=()).close()

    reopened = open_durable_store(db_path)
    try:
        assert await reopened.list(KIND) == []
    finally:
        reopened.close()


async def test_a_restarted_store_bootstraps_its_loaded_resources(db_path: Path) -> None:
    store = open_durable_store(db_path)
    stored = await populate(store)
    store.close()

    reopened = open_durable_store(db_path)
    try:
        watch = await reopened.watch_kind(KIND, WatchKindOptions(bootstrap_contents=True))
        events = await next_events(watch, 3)
        assert [(e.type, e.resource) for e in events[:2]] == [
            (EventType.CREATED, stored["nested/labelled"]),
            (EventType.CREATED, stored["plain"]),
        ]
        assert events[2].type == EventType.BOOTSTRAPPED
    finally:
        reopened.close()


async def test_bookmarks_of_the_previous_run_are_refused(db_path: Path) -> None:
    store = open_durable_store(db_path)
    watch = await store.watch_kind(KIND, WatchKindOptions(bootstrap_bookmark=True))
    [noop] = await next_events(watch, 1)
    await store.create(make_resource("a"))
    [created] = await next_events(watch, 1)
    store.close()

    reopened = open_durable_store(db_path)
    try:
        for event in (noop, created):
            assert event.bookmark is not None
            with pytest.raises(InvalidBookmarkError):
                await reopened.watch_kind(
                    KIND, WatchKindOptions(start_from_bookmark=event.bookmark)
                )
    finally:
        reopened.close()
