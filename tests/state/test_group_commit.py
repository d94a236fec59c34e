"""Group commit on the durable backend: the writes of one turn of the event loop share one
journal transaction, become visible only once it committed, and fail together if it fails."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from cosid.state.errors import VersionConflictError
from cosid.state.resource import Pointer, Resource
from cosid.state.sqlite import SqliteJournal
from cosid.state.state import WatchKindOptions
from cosid.state.store import Store
from tests.state.conftest import KIND, NS, make_resource, next_events, ptr, resource_ids


class RecordingJournal(SqliteJournal):
    """The real SQLite journal, recording each transaction, and failing them on demand."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.transactions: list[tuple[int, int]] = []
        self.fail = False

    def write(self, puts: Sequence[Resource], deletes: Sequence[Pointer]) -> None:
        if self.fail:
            raise sqlite3.OperationalError("disk I/O error")
        super().write(puts, deletes)
        self.transactions.append((len(puts), len(deletes)))


@pytest.fixture
def journal(tmp_path: Path) -> RecordingJournal:
    return RecordingJournal(tmp_path / "state.db")


@pytest.fixture
def store(journal: RecordingJournal) -> Store:
    return Store(journal, durable_namespaces={NS})


async def test_writes_of_one_turn_share_one_transaction(
    store: Store, journal: RecordingJournal
) -> None:
    await asyncio.gather(*(store.create(make_resource(f"r{i}")) for i in range(50)))
    assert journal.transactions == [(50, 0)]
    await asyncio.gather(*(store.destroy(ptr(f"r{i}")) for i in range(50)))
    assert journal.transactions == [(50, 0), (0, 50)]


async def test_a_resource_changed_several_times_in_one_turn_is_one_row(
    store: Store, journal: RecordingJournal, tmp_path: Path
) -> None:
    await store.create(make_resource("a"))
    await store.create(make_resource("gone"))
    await asyncio.gather(
        *(store.add_finalizer(ptr("a"), f"f{n}") for n in range(3)), store.destroy(ptr("gone"))
    )
    assert journal.transactions[-1] == (1, 1)
    reopened = Store(SqliteJournal(tmp_path / "state.db"), durable_namespaces={NS})
    try:
        [stored] = await reopened.list(KIND)
        assert (stored.version, stored.metadata.finalizers) == (4, ("f0", "f1", "f2"))
    finally:
        reopened.close()


async def test_compare_and_swap_holds_within_a_turn(store: Store) -> None:
    stored = await store.create(make_resource("a"))
    results = await asyncio.gather(
        *(store.update(stored.with_metadata(labels={"n": str(i)})) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Resource) for r in results) == 1
    assert sum(isinstance(r, VersionConflictError) for r in results) == 4
    assert (await store.get(ptr("a"))).version == 2


async def test_a_failed_commit_fails_every_writer_of_the_turn_and_shows_nothing(
    store: Store, journal: RecordingJournal
) -> None:
    watch = await store.watch_kind(KIND, WatchKindOptions(bootstrap_bookmark=True))
    await next_events(watch, 1)
    journal.fail = True
    results = await asyncio.gather(
        *(store.create(make_resource(f"r{i}")) for i in range(3)), return_exceptions=True
    )
    assert [type(r) for r in results] == [sqlite3.OperationalError] * 3
    assert resource_ids(await store.list(KIND)) == []

    journal.fail = False  # the next turn starts clean: nothing of the failed one is staged
    await store.create(make_resource("r0"))
    [event] = await next_events(watch, 1)
    assert event.resource is not None
    assert (event.resource.metadata.id, event.resource.version) == ("r0", 1)


async def test_closing_commits_what_was_staged(tmp_path: Path, journal: RecordingJournal) -> None:
    store = Store(journal, durable_namespaces={NS})
    writer = asyncio.create_task(store.create(make_resource("late")))
    await asyncio.sleep(0)  # staged, not yet committed
    store.close()
    assert (await writer).version == 1
    reopened = Store(SqliteJournal(tmp_path / "state.db"), durable_namespaces={NS})
    try:
        assert resource_ids(await reopened.list(KIND)) == ["late"]
    finally:
        reopened.close()
