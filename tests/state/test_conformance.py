"""The COSI State behaviours of COSI-STATE-WIRE.md, checked at the store level on every backend.

Queries (and the synthetic watch events they cause) are in test_query.py; what survives a
restart is in test_durability.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from cosid.state.errors import (
    AlreadyExistsError,
    InvalidBookmarkError,
    NotFoundError,
    OwnerConflictError,
    PendingFinalizersError,
    PhaseConflictError,
    VersionConflictError,
)
from cosid.state.events import Event, EventType
from cosid.state.resource import (
    UNDEFINED_VERSION,
    Kind,
    Phase,
    Pointer,
    Resource,
    Spec,
    kind_tombstone,
    tombstone,
)
from cosid.state.state import EventBatch, InvalidWatchOptionsError, WatchKindOptions, WatchOptions
from cosid.state.store import Store, StoreClosedError
from tests.state.conftest import (
    EPHEMERAL_NS,
    KIND,
    NS,
    TYPE,
    StoreFactory,
    assert_ended,
    make_resource,
    next_batch,
    next_events,
    ptr,
    resource_ids,
    summary,
)

CREATED, UPDATED, DESTROYED = EventType.CREATED, EventType.UPDATED, EventType.DESTROYED
BOOTSTRAPPED, NOOP, ERRORED = EventType.BOOTSTRAPPED, EventType.NOOP, EventType.ERRORED
OTHER_TYPE = "Others.test.cosi.dev"


async def remove_finalizer(store: Store, pointer: Pointer, finalizer: str) -> Resource:
    """What a controller does: read, drop its finalizer, write back as the current owner."""
    current = await store.get(pointer)
    remaining = tuple(f for f in current.metadata.finalizers if f != finalizer)
    return await store.update(current.with_metadata(finalizers=remaining), current.metadata.owner)


# --- Create, Get ---------------------------------------------------------------------------------


async def test_create_stores_version_1_and_the_owner(store: Store) -> None:
    stored = await store.create(make_resource("a"), owner="controller")

    assert stored.version == 1
    assert stored.metadata.owner == "controller"
    assert await store.get(ptr("a")) == stored


async def test_create_ignores_the_version_and_owner_sent(store: Store) -> None:
    sent = make_resource("a", version=7).with_metadata(owner="someone-else")

    stored = await store.create(sent)

    assert stored.version == 1
    assert stored.metadata.owner == ""


async def test_create_of_an_existing_resource_fails(store: Store) -> None:
    first = await store.create(make_resource("a"), owner="o")

    with pytest.raises(AlreadyExistsError):
        await store.create(make_resource("a", labels={"second": "yes"}), owner="o")
    assert await store.get(ptr("a")) == first


async def test_get_of_a_missing_resource_fails(store: Store) -> None:
    await store.create(make_resource("a"))

    with pytest.raises(NotFoundError):
        await store.get(ptr("b"))
    with pytest.raises(NotFoundError):
        await store.get(ptr("a", type=OTHER_TYPE))


async def test_find_answers_none_where_get_fails(store: Store) -> None:
    created = await store.create(make_resource("a"))

    assert await store.find(ptr("a")) == created
    assert await store.find(ptr("b")) is None
    assert await store.find(ptr("a", type=OTHER_TYPE)) is None


async def test_metadata_and_spec_round_trip_whole(store: Store) -> None:
    sent = make_resource(
        "nested/id/with/slashes",
        labels={"app": "web", "empty": ""},
        annotations={"note": "ünïcode", "multi": "line\nbreak"},
        finalizers=("z-first", "a-second"),
        phase=Phase.TEARING_DOWN,
        spec=Spec(proto=b"\x00\xff\x08\x96\x01", yaml="key: value\nlist: [1, 2]\n"),
    )

    stored = await store.create(sent, owner="o")

    assert stored.metadata.created is not None
    expected = sent.with_metadata(
        version=1, owner="o", created=stored.metadata.created, updated=stored.metadata.updated
    )
    assert stored == expected
    assert await store.get(sent.pointer) == expected
    assert await store.list(KIND) == [expected]


async def test_namespaces_and_types_are_separate_keys(store: Store) -> None:
    await store.create(make_resource("a", labels={"where": "main"}))
    await store.create(make_resource("a", type=OTHER_TYPE, labels={"where": "type"}))
    await store.create(make_resource("a", ns=EPHEMERAL_NS, labels={"where": "ns"}))

    assert (await store.get(ptr("a"))).metadata.labels == {"where": "main"}
    assert (await store.get(ptr("a", type=OTHER_TYPE))).metadata.labels == {"where": "type"}
    assert (await store.get(ptr("a", ns=EPHEMERAL_NS))).metadata.labels == {"where": "ns"}


# --- Update --------------------------------------------------------------------------------------


async def test_update_stores_what_was_sent_with_the_next_version(store: Store) -> None:
    created = await store.create(make_resource("a", labels={"v": "1"}), owner="o")
    sent = Resource(
        created.with_metadata(
            labels={"v": "2"}, finalizers=("f",), phase=Phase.TEARING_DOWN, owner="new-owner"
        ).metadata,
        Spec(proto=b"\x01", yaml="changed: true\n"),
    )

    updated = await store.update(sent, owner="o")

    assert updated.version == 2
    assert updated.metadata.labels == {"v": "2"}
    assert updated.metadata.finalizers == ("f",)
    assert updated.metadata.phase == Phase.TEARING_DOWN
    assert updated.metadata.owner == "new-owner"
    assert updated.metadata.created == created.metadata.created
    assert updated.spec == Spec(proto=b"\x01", yaml="changed: true\n")
    assert await store.get(ptr("a")) == updated


async def test_an_unchanged_update_still_bumps_the_version(store: Store) -> None:
    created = await store.create(make_resource("a"))

    updated = await store.update(created)

    assert updated.version == 2
    assert (await store.update(updated)).version == 3


@pytest.mark.parametrize("sent_version", [0, 2, 5], ids=["undefined", "bumped", "future"])
async def test_update_is_compare_and_swap_on_the_version(store: Store, sent_version: int) -> None:
    created = await store.create(make_resource("a"))

    with pytest.raises(VersionConflictError):
        await store.update(created.with_metadata(version=sent_version, labels={"x": "y"}))
    assert await store.get(ptr("a")) == created


async def test_update_with_an_outdated_version_conflicts(store: Store) -> None:
    first = await store.create(make_resource("a"))
    await store.update(first.with_metadata(labels={"writer": "one"}))

    with pytest.raises(VersionConflictError):
        await store.update(first.with_metadata(labels={"writer": "two"}))
    assert (await store.get(ptr("a"))).metadata.labels == {"writer": "one"}


async def test_update_checks_not_found_then_owner_then_version_then_phase(store: Store) -> None:
    stored = await store.create(make_resource("a"), owner="o")
    stale = stored.with_metadata(version=stored.version + 5)
    tearing = Phase.TEARING_DOWN

    with pytest.raises(NotFoundError):
        await store.update(make_resource("missing", version=5), owner="x", expected_phase=tearing)
    with pytest.raises(OwnerConflictError):
        await store.update(stale, owner="x", expected_phase=tearing)
    with pytest.raises(VersionConflictError):
        await store.update(stale, owner="o", expected_phase=tearing)
    with pytest.raises(PhaseConflictError):
        await store.update(stored, owner="o", expected_phase=tearing)
    assert await store.get(ptr("a")) == stored


async def test_update_with_an_expected_phase(store: Store) -> None:
    stored = await store.create(make_resource("a", phase=Phase.TEARING_DOWN))

    with pytest.raises(PhaseConflictError):
        await store.update(stored, expected_phase=Phase.RUNNING)
    matched = await store.update(stored, expected_phase=Phase.TEARING_DOWN)
    unchecked = await store.update(matched.with_metadata(phase=Phase.RUNNING))

    assert (matched.version, unchecked.version) == (2, 3)
    assert unchecked.metadata.phase == Phase.RUNNING


# --- Owners --------------------------------------------------------------------------------------

Operation = Callable[[Store, Resource, str], Awaitable[object]]

OWNED_OPERATIONS: dict[str, Operation] = {
    "update": lambda store, resource, owner: store.update(resource, owner),
    "destroy": lambda store, resource, owner: store.destroy(resource.pointer, owner),
    "teardown": lambda store, resource, owner: store.teardown(resource.pointer, owner),
    "teardown_and_destroy": lambda store, resource, owner: store.teardown_and_destroy(
        resource.pointer, owner
    ),
}


@pytest.mark.parametrize("operation", list(OWNED_OPERATIONS))
@pytest.mark.parametrize(
    ("owner", "caller"),
    [("controller", ""), ("", "controller"), ("controller", "other")],
    ids=["owned-called-unowned", "unowned-called-owned", "owned-called-other"],
)
async def test_operations_by_another_owner_conflict(
    store: Store, operation: str, owner: str, caller: str
) -> None:
    stored = await store.create(make_resource("a"), owner=owner)

    with pytest.raises(OwnerConflictError):
        await OWNED_OPERATIONS[operation](store, stored, caller)
    assert await store.get(ptr("a")) == stored


@pytest.mark.parametrize("operation", list(OWNED_OPERATIONS))
@pytest.mark.parametrize("owner", ["", "controller"], ids=["unowned", "owned"])
async def test_operations_by_the_owner_succeed(store: Store, operation: str, owner: str) -> None:
    stored = await store.create(make_resource("a"), owner=owner)

    await OWNED_OPERATIONS[operation](store, stored, owner)

    if operation == "update":
        assert (await store.get(ptr("a"))).version == 2
    elif operation == "teardown":
        assert (await store.get(ptr("a"))).metadata.phase == Phase.TEARING_DOWN
    else:
        assert await store.list(KIND) == []


# --- Destroy -------------------------------------------------------------------------------------


async def test_destroy_removes_a_running_resource(store: Store) -> None:
    await store.create(make_resource("a"))
    await store.create(make_resource("b"))

    await store.destroy(ptr("a"))

    with pytest.raises(NotFoundError):
        await store.get(ptr("a"))
    assert resource_ids(await store.list(KIND)) == ["b"]


async def test_destroy_of_a_missing_resource_fails(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.destroy(ptr("a"))


async def test_destroy_with_pending_finalizers_fails(store: Store) -> None:
    stored = await store.create(make_resource("a", finalizers=("f1", "f2")))

    with pytest.raises(PendingFinalizersError):
        await store.destroy(ptr("a"))
    assert await store.get(ptr("a")) == stored


async def test_destroy_after_the_finalizers_are_removed(store: Store) -> None:
    await store.create(make_resource("a", finalizers=("f1",)))
    await remove_finalizer(store, ptr("a"), "f1")

    await store.destroy(ptr("a"))

    assert await store.list(KIND) == []


async def test_a_destroyed_id_can_be_created_again_at_version_1(store: Store) -> None:
    created = await store.create(make_resource("a"))
    await store.update(created)
    await store.destroy(ptr("a"))

    again = await store.create(make_resource("a"))

    assert again.version == 1


# --- Finalizers ----------------------------------------------------------------------------------


async def test_finalizers_are_added_and_removed_whoever_owns_the_resource(store: Store) -> None:
    created = await store.create(make_resource("a"), owner="o")

    added = await store.add_finalizer(ptr("a"), "f")
    removed = await store.remove_finalizer(ptr("a"), "f")

    assert (added.version, added.metadata.finalizers, added.metadata.owner) == (2, ("f",), "o")
    assert (removed.version, removed.metadata.finalizers) == (3, ())
    assert removed.spec == created.spec
    assert await store.get(ptr("a")) == removed


async def test_finalizers_added_in_one_turn_do_not_conflict(store: Store) -> None:
    await store.create(make_resource("a"))

    await asyncio.gather(*(store.add_finalizer(ptr("a"), f"f{n}") for n in range(3)))

    stored = await store.get(ptr("a"))
    assert (stored.version, stored.metadata.finalizers) == (4, ("f0", "f1", "f2"))


async def test_a_finalizer_already_there_or_absent_changes_nothing(store: Store) -> None:
    await store.create(make_resource("a", finalizers=("f",)))

    assert (await store.add_finalizer(ptr("a"), "f")).version == 1
    assert (await store.remove_finalizer(ptr("a"), "other")).version == 1


async def test_no_finalizer_is_added_to_a_resource_being_torn_down(store: Store) -> None:
    await store.create(make_resource("a", finalizers=("f",)))
    await store.teardown(ptr("a"))

    with pytest.raises(PhaseConflictError):
        await store.add_finalizer(ptr("a"), "g")
    assert (await store.remove_finalizer(ptr("a"), "f")).metadata.finalizers == ()


# --- Teardown ------------------------------------------------------------------------------------


async def test_teardown_sets_the_phase_with_a_new_version_and_an_updated_event(
    store: Store,
) -> None:
    created = await store.create(make_resource("a", finalizers=("f",)), owner="o")
    watch = await store.watch_kind(KIND)

    destroy_ready = await store.teardown(ptr("a"), owner="o")

    torn = await store.get(ptr("a"))
    assert destroy_ready is False
    assert torn == created.with_metadata(
        phase=Phase.TEARING_DOWN, version=2, updated=torn.metadata.updated
    )
    [event] = await next_events(watch, 1)
    assert (event.type, event.resource, event.old) == (UPDATED, torn, created)


async def test_teardown_is_idempotent(store: Store) -> None:
    await store.create(make_resource("a", finalizers=("f",)))
    assert await store.teardown(ptr("a")) is False
    torn = await store.get(ptr("a"))
    watch = await store.watch_kind(KIND)

    assert await store.teardown(ptr("a")) is False
    assert await store.teardown(ptr("a")) is False

    assert await store.get(ptr("a")) == torn
    await store.create(make_resource("sentinel"))
    assert summary(await next_events(watch, 1)) == [(CREATED, "sentinel", 1)]


async def test_teardown_answers_destroy_ready_when_no_finalizers_are_left(store: Store) -> None:
    await store.create(make_resource("bare"))
    await store.create(make_resource("finalized", finalizers=("f",)))

    assert await store.teardown(ptr("bare")) is True
    assert await store.teardown(ptr("finalized")) is False
    await remove_finalizer(store, ptr("finalized"), "f")
    assert await store.teardown(ptr("finalized")) is True
    assert (await store.get(ptr("finalized"))).version == 3


async def test_teardown_of_a_resource_created_tearing_down_changes_nothing(store: Store) -> None:
    created = await store.create(make_resource("a", phase=Phase.TEARING_DOWN))

    assert await store.teardown(ptr("a")) is True
    assert await store.get(ptr("a")) == created


async def test_teardown_of_a_missing_resource_fails(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.teardown(ptr("a"))
    with pytest.raises(NotFoundError):
        await store.teardown_and_destroy(ptr("a"))


async def test_teardown_and_destroy_without_finalizers_destroys_at_once(store: Store) -> None:
    created = await store.create(make_resource("a"), owner="o")
    watch = await store.watch_kind(KIND)

    await asyncio.wait_for(store.teardown_and_destroy(ptr("a"), owner="o"), 1)

    events = await next_events(watch, 2)
    assert summary(events) == [(UPDATED, "a", 2), (DESTROYED, "a", 2)]
    assert events[0].old == created
    assert events[1].resource is not None
    assert events[1].resource.metadata.phase == Phase.TEARING_DOWN
    assert await store.list(KIND) == []


async def test_teardown_and_destroy_waits_for_other_tasks_to_remove_the_finalizers(
    store: Store,
) -> None:
    await store.create(make_resource("a", finalizers=("f1", "f2")), owner="o")
    watch = await store.watch(ptr("a"))
    await next_events(watch, 1)

    task = asyncio.create_task(store.teardown_and_destroy(ptr("a"), owner="o"))
    [torn] = await next_events(watch, 1)
    assert torn.resource is not None
    assert torn.resource.metadata.phase == Phase.TEARING_DOWN

    await remove_finalizer(store, ptr("a"), "f1")
    for _ in range(5):  # give the waiting task every chance to (wrongly) go ahead
        await asyncio.sleep(0)
    assert not task.done()
    assert (await store.get(ptr("a"))).metadata.finalizers == ("f2",)

    await remove_finalizer(store, ptr("a"), "f2")
    await asyncio.wait_for(task, 1)

    with pytest.raises(NotFoundError):
        await store.get(ptr("a"))
    assert summary(await next_events(watch, 3)) == [
        (UPDATED, "a", 3),
        (UPDATED, "a", 4),
        (DESTROYED, "a", 4),
    ]


async def test_teardown_and_destroy_waiting_ends_when_the_store_closes(store: Store) -> None:
    await store.create(make_resource("a", finalizers=("f",)))
    task = asyncio.create_task(store.teardown_and_destroy(ptr("a")))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not task.done()

    store.close()

    with pytest.raises(StoreClosedError):
        await asyncio.wait_for(task, 1)


async def test_teardown_and_destroy_spares_a_resource_made_anew_while_it_waited(
    store: Store,
) -> None:
    # In memory even on the durable backend: there, each durable write lets the task run,
    # and these three writes must happen while it waits.
    a = ptr("a", ns=EPHEMERAL_NS)
    await store.create(make_resource("a", ns=EPHEMERAL_NS, finalizers=("f",)))
    task = asyncio.create_task(store.teardown_and_destroy(a))
    for _ in range(3):
        await asyncio.sleep(0)

    await remove_finalizer(store, a, "f")  # these three run before the task wakes
    await store.destroy(a)
    await store.create(make_resource("a", ns=EPHEMERAL_NS, finalizers=("g",)))

    with pytest.raises(NotFoundError):
        await asyncio.wait_for(task, 1)
    assert (await store.get(a)).metadata.finalizers == ("g",)


async def test_concurrent_teardown_and_destroys_destroy_once(store: Store) -> None:
    await store.create(make_resource("a", finalizers=("f",)))
    racing = asyncio.gather(
        *(store.teardown_and_destroy(ptr("a")) for _ in range(5)), return_exceptions=True
    )
    for _ in range(3):
        await asyncio.sleep(0)
    assert (await store.get(ptr("a"))).metadata.phase == Phase.TEARING_DOWN

    await remove_finalizer(store, ptr("a"), "f")
    results = await asyncio.wait_for(racing, 1)

    assert results.count(None) == 1
    assert all(isinstance(result, NotFoundError) for result in results if result is not None)
    assert await store.list(KIND) == []


# --- List ----------------------------------------------------------------------------------------


async def test_list_is_sorted_by_id_and_limited_to_the_kind(store: Store) -> None:
    for id in ["b", "a/2", "c", "a", "a/10", "B", "a-1"]:
        await store.create(make_resource(id))
    await store.create(make_resource("0-other-type", type=OTHER_TYPE))
    await store.create(make_resource("0-other-ns", ns=EPHEMERAL_NS))

    assert resource_ids(await store.list(KIND)) == ["B", "a", "a-1", "a/10", "a/2", "b", "c"]


async def test_list_of_an_unknown_kind_is_empty(store: Store) -> None:
    await store.create(make_resource("a"))

    assert await store.list(Kind(NS, "Unknowns.test.cosi.dev")) == []
    assert await store.list(Kind("nowhere", TYPE)) == []


# --- Concurrency ---------------------------------------------------------------------------------


async def test_concurrent_read_modify_write_loses_no_update(store: Store) -> None:
    await store.create(make_resource("a"), owner="o")
    conflicts = 0

    async def add_finalizer(name: str) -> None:
        nonlocal conflicts
        while True:
            current = await store.get(ptr("a"))
            await asyncio.sleep(0)  # let the others read the same version
            finalizers = (*current.metadata.finalizers, name)
            try:
                await store.update(current.with_metadata(finalizers=finalizers), owner="o")
            except VersionConflictError:
                conflicts += 1
                continue
            return

    names = [f"finalizer-{i:02}" for i in range(50)]
    await asyncio.wait_for(asyncio.gather(*(add_finalizer(name) for name in names)), 5)

    final = await store.get(ptr("a"))
    assert sorted(final.metadata.finalizers) == names
    assert final.version == 51
    assert conflicts > 0, "the tasks never raced: the test proves nothing"


async def test_concurrent_destroys_succeed_exactly_once(store: Store) -> None:
    await store.create(make_resource("a"))

    async def destroy() -> None:
        await asyncio.sleep(0)
        await store.destroy(ptr("a"))

    results = await asyncio.gather(*(destroy() for _ in range(10)), return_exceptions=True)

    assert results.count(None) == 1
    assert all(isinstance(result, NotFoundError) for result in results if result is not None)
    assert await store.list(KIND) == []


async def test_concurrent_creates_succeed_exactly_once(store: Store) -> None:
    async def create(n: int) -> Resource:
        await asyncio.sleep(0)
        return await store.create(make_resource("a", labels={"n": str(n)}))

    results = await asyncio.gather(*(create(n) for n in range(10)), return_exceptions=True)

    winners = [result for result in results if isinstance(result, Resource)]
    assert len(winners) == 1
    assert sum(isinstance(result, AlreadyExistsError) for result in results) == 9
    assert await store.get(ptr("a")) == winners[0]


# --- Single-resource watch -----------------------------------------------------------------------


async def test_watch_starts_with_the_current_state_then_sends_only_its_changes(
    store: Store,
) -> None:
    created = await store.create(make_resource("a"))
    watch = await store.watch(ptr("a"))

    [initial] = await next_events(watch, 1)
    assert (initial.type, initial.resource) == (CREATED, created)

    await store.create(make_resource("b"))
    await store.create(make_resource("a", type=OTHER_TYPE))
    await store.create(make_resource("a", ns=EPHEMERAL_NS))
    updated = await store.update(created.with_metadata(labels={"x": "1"}))
    await store.destroy(ptr("b"))
    await store.destroy(ptr("a"))

    events = await next_events(watch, 2)
    assert [(e.type, e.resource, e.old) for e in events] == [
        (UPDATED, updated, created),
        (DESTROYED, updated, None),
    ]


async def test_watch_of_a_missing_resource_starts_with_a_tombstone(store: Store) -> None:
    await store.create(make_resource("other"))
    watch = await store.watch(ptr("a/b"))

    [initial] = await next_events(watch, 1)
    assert initial.type == DESTROYED
    assert initial.resource == tombstone(ptr("a/b"))
    assert initial.resource.version == UNDEFINED_VERSION

    created = await store.create(make_resource("a/b"))
    [event] = await next_events(watch, 1)
    assert (event.type, event.resource) == (CREATED, created)


async def test_watch_initial_state_is_the_state_at_setup(store: Store) -> None:
    created = await store.create(make_resource("a"))
    watch = await store.watch(ptr("a"))
    updated = await store.update(created)  # before the watcher reads anything

    events = await next_events(watch, 2)

    assert [(e.type, e.resource) for e in events] == [(CREATED, created), (UPDATED, updated)]


async def test_a_waiting_watcher_gets_an_event_promptly(store: Store) -> None:
    watch = await store.watch_kind(KIND)
    waiting = asyncio.create_task(next_batch(watch))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiting.done()

    created = await store.create(make_resource("a"))

    [event] = await waiting
    assert (event.type, event.resource) == (CREATED, created)


async def test_watch_tail_events_replays_the_last_events_of_that_id(store: Store) -> None:
    a = await store.create(make_resource("a"))
    b = await store.create(make_resource("b"))
    a = await store.update(a)
    await store.update(b)
    a = await store.update(a)
    await store.destroy(ptr("b"))

    last_two = await store.watch(ptr("a"), WatchOptions(tail_events=2))
    everything = await store.watch(ptr("a"), WatchOptions(tail_events=100))
    await store.update(a)

    assert summary(await next_events(last_two, 3)) == [
        (UPDATED, "a", 2),
        (UPDATED, "a", 3),
        (UPDATED, "a", 4),
    ]
    assert summary(await next_events(everything, 4)) == [
        (CREATED, "a", 1),
        (UPDATED, "a", 2),
        (UPDATED, "a", 3),
        (UPDATED, "a", 4),
    ]


# --- Kind watch ----------------------------------------------------------------------------------


async def test_watch_kind_sends_every_change_of_the_kind(store: Store) -> None:
    watch = await store.watch_kind(KIND)

    created = await store.create(make_resource("a"), owner="o")
    await store.create(make_resource("a", type=OTHER_TYPE))
    await store.create(make_resource("a", ns=EPHEMERAL_NS))
    updated = await store.update(created.with_metadata(labels={"k": "v"}), owner="o")
    await store.destroy(ptr("a"), owner="o")

    events = await next_events(watch, 3)
    assert [(e.type, e.resource, e.old) for e in events] == [
        (CREATED, created, None),
        (UPDATED, updated, created),
        (DESTROYED, updated, None),
    ]


async def test_watch_kind_bootstrap_contents(store: Store) -> None:
    stored: dict[str, Resource] = {}
    for id in ["c", "a/2", "b", "a"]:
        stored[id] = await store.create(make_resource(id))
    await store.create(make_resource("x", type=OTHER_TYPE))
    watch = await store.watch_kind(KIND, WatchKindOptions(bootstrap_contents=True))

    events = await next_events(watch, 5)

    assert [(e.type, e.resource) for e in events[:4]] == [
        (CREATED, stored["a"]),
        (CREATED, stored["a/2"]),
        (CREATED, stored["b"]),
        (CREATED, stored["c"]),
    ]
    assert events[4].type == BOOTSTRAPPED
    assert events[4].resource == kind_tombstone(KIND)
    assert events[4].bookmark is not None

    await store.destroy(ptr("b"))
    assert summary(await next_events(watch, 1)) == [(DESTROYED, "b", 1)]


async def test_watch_kind_bootstrap_is_the_contents_at_setup(store: Store) -> None:
    a = await store.create(make_resource("a"))
    watch = await store.watch_kind(KIND, WatchKindOptions(bootstrap_contents=True))
    await store.update(a)  # before the watcher reads anything
    await store.create(make_resource("b"))
    await store.destroy(ptr("a"))

    events = await next_events(watch, 5)

    assert summary(events) == [
        (CREATED, "a", 1),
        (BOOTSTRAPPED, "", UNDEFINED_VERSION),
        (UPDATED, "a", 2),
        (CREATED, "b", 1),
        (DESTROYED, "a", 2),
    ]


async def test_watch_kind_bootstrap_of_an_empty_kind_is_just_bootstrapped(store: Store) -> None:
    watch = await store.watch_kind(KIND, WatchKindOptions(bootstrap_contents=True))

    [bootstrapped] = await next_events(watch, 1)
    assert (bootstrapped.type, bootstrapped.resource) == (BOOTSTRAPPED, kind_tombstone(KIND))
    assert bootstrapped.bookmark is not None
    resumed = await store.watch_kind(
        KIND, WatchKindOptions(start_from_bookmark=bootstrapped.bookmark)
    )

    await store.create(make_resource("a"))
    assert summary(await next_events(watch, 1)) == [(CREATED, "a", 1)]
    assert summary(await next_events(resumed, 1)) == [(CREATED, "a", 1)]


async def test_watch_kind_bootstrap_bookmark_sends_a_noop_first(store: Store) -> None:
    await store.create(make_resource("a"))
    watch = await store.watch_kind(KIND, WatchKindOptions(bootstrap_bookmark=True))

    [noop] = await next_events(watch, 1)
    assert (noop.type, noop.resource) == (NOOP, kind_tombstone(KIND))
    assert noop.bookmark is not None

    await store.create(make_resource("b"))
    assert summary(await next_events(watch, 1)) == [(CREATED, "b", 1)]


async def test_watch_kind_bootstrap_then_noop(store: Store) -> None:
    await store.create(make_resource("a"))
    options = WatchKindOptions(bootstrap_contents=True, bootstrap_bookmark=True)
    watch = await store.watch_kind(KIND, options)

    events = await next_events(watch, 3)

    assert [e.type for e in events] == [CREATED, BOOTSTRAPPED, NOOP]


async def test_watch_kind_tail_events_replays_the_last_events(store: Store) -> None:
    a = await store.create(make_resource("a"))
    await store.create(make_resource("b"))
    await store.create(make_resource("c"))
    await store.update(a)
    await store.destroy(ptr("b"))

    last_three = await store.watch_kind(KIND, WatchKindOptions(tail_events=3))
    everything = await store.watch_kind(KIND, WatchKindOptions(tail_events=100))
    await store.create(make_resource("d"))

    assert summary(await next_events(last_three, 4)) == [
        (CREATED, "c", 1),
        (UPDATED, "a", 2),
        (DESTROYED, "b", 1),
        (CREATED, "d", 1),
    ]
    assert summary(await next_events(everything, 6)) == [
        (CREATED, "a", 1),
        (CREATED, "b", 1),
        (CREATED, "c", 1),
        (UPDATED, "a", 2),
        (DESTROYED, "b", 1),
        (CREATED, "d", 1),
    ]


async def test_watch_kind_tail_events_after_a_noop_that_resumes_them(store: Store) -> None:
    for id in ["a", "b", "c"]:
        await store.create(make_resource(id))
    options = WatchKindOptions(tail_events=2, bootstrap_bookmark=True)
    watch = await store.watch_kind(KIND, options)

    events = await next_events(watch, 3)

    assert summary(events) == [(NOOP, "", UNDEFINED_VERSION), (CREATED, "b", 1), (CREATED, "c", 1)]
    assert events[0].bookmark is not None
    resumed = await store.watch_kind(KIND, WatchKindOptions(start_from_bookmark=events[0].bookmark))
    assert await next_events(resumed, 2) == events[1:]


async def test_tail_events_reach_back_only_as_far_as_the_history(
    store_factory: StoreFactory,
) -> None:
    store = store_factory(history_capacity=8)
    for i in range(12):
        await store.create(make_resource(f"r{i:02}"))

    watch = await store.watch_kind(KIND, WatchKindOptions(tail_events=100))

    assert resource_ids([e.resource for e in await next_events(watch, 8) if e.resource]) == [
        f"r{i:02}" for i in range(4, 12)
    ]


# --- Bookmarks -----------------------------------------------------------------------------------


async def kind_churn(store: Store) -> int:
    """A mix of every kind of change to KIND (and one to another kind); returns KIND's count."""
    a = await store.create(make_resource("a"))
    b = await store.create(make_resource("b", finalizers=("f",)))
    await store.update(a.with_metadata(labels={"x": "1"}))
    await store.create(make_resource("elsewhere", type=OTHER_TYPE))
    await store.teardown(b.pointer)
    await remove_finalizer(store, b.pointer, "f")
    await store.destroy(b.pointer)
    await store.destroy(a.pointer)
    return 7


async def resumes_replay_exactly_the_rest(
    marked: list[Event],
    rest_of: Callable[[int], list[Event]],
    resume: Callable[[bytes], Awaitable[AsyncIterator[EventBatch]]],
    sentinel: Callable[[], Awaitable[Event]],
) -> None:
    """Resume from the bookmark of each event of `marked`: each watch must replay exactly the
    events after it (`rest_of(index)`), then go on with a new live one (made by `sentinel`)."""
    resumed = []
    for event in marked:
        assert event.bookmark is not None, f"{event.type.name} has no bookmark"
        resumed.append(await resume(event.bookmark))
    live = await sentinel()
    for index, watch in enumerate(resumed):
        expected = [*rest_of(index), live]
        assert await next_events(watch, len(expected)) == expected, f"resumed from #{index}"


async def test_kind_watch_resumes_after_any_bookmark(store: Store) -> None:
    await store.create(make_resource("before"))
    options = WatchKindOptions(bootstrap_contents=True, bootstrap_bookmark=True)
    watch = await store.watch_kind(KIND, options)
    head = await next_events(watch, 3)
    assert [e.type for e in head] == [CREATED, BOOTSTRAPPED, NOOP]
    count = await kind_churn(store)
    live = await next_events(watch, count)
    marked = [*head[1:], *live]  # BOOTSTRAPPED, NOOP and every live event

    async def sentinel() -> Event:
        await store.create(make_resource("sentinel"))
        [event] = await next_events(watch, 1)
        return event

    await resumes_replay_exactly_the_rest(
        marked,
        lambda index: live[max(0, index - 1) :],
        lambda bookmark: store.watch_kind(KIND, WatchKindOptions(start_from_bookmark=bookmark)),
        sentinel,
    )


async def test_single_watch_resumes_after_any_bookmark(store: Store) -> None:
    a = await store.create(make_resource("a"))
    watch = await store.watch(ptr("a"))
    [initial] = await next_events(watch, 1)
    b = await store.create(make_resource("b"))
    a = await store.update(a)
    await store.update(b)
    await store.update(a)
    await store.destroy(ptr("b"))
    await store.destroy(ptr("a"))
    await store.create(make_resource("a"))
    live = await next_events(watch, 4)
    assert summary(live) == [
        (UPDATED, "a", 2),
        (UPDATED, "a", 3),
        (DESTROYED, "a", 3),
        (CREATED, "a", 1),
    ]
    # The initial event may carry a bookmark (the reference runtime sends none); live ones must.
    marked = [initial, *live] if initial.bookmark is not None else live
    skip = 1 if initial.bookmark is not None else 0

    async def sentinel() -> Event:
        current = await store.get(ptr("a"))
        await store.create(make_resource("c"))
        await store.update(current)
        [event] = await next_events(watch, 1)
        return event

    await resumes_replay_exactly_the_rest(
        marked,
        lambda index: live[index + 1 - skip :],
        lambda bookmark: store.watch(ptr("a"), WatchOptions(start_from_bookmark=bookmark)),
        sentinel,
    )


async def test_resuming_from_a_bookmark_sends_no_initial_event(store: Store) -> None:
    await store.create(make_resource("a"))
    watch = await store.watch_kind(KIND, WatchKindOptions(bootstrap_bookmark=True))
    [noop] = await next_events(watch, 1)
    assert noop.bookmark is not None

    single = await store.watch(ptr("a"), WatchOptions(start_from_bookmark=noop.bookmark))
    await store.destroy(ptr("a"))

    assert summary(await next_events(single, 1)) == [(DESTROYED, "a", 1)]


async def bookmark_of_the_next_event(store: Store) -> bytes:
    """The bookmark of a fresh CREATED event in KIND."""
    watch = await store.watch_kind(KIND)
    await store.create(make_resource("bookmarked"))
    [event] = await next_events(watch, 1)
    assert event.bookmark is not None
    return event.bookmark


WatchSetup = Callable[[Store, bytes], Awaitable[AsyncIterator[EventBatch]]]

RESUMING_WATCHES: dict[str, WatchSetup] = {
    "kind": lambda store, bookmark: store.watch_kind(
        KIND, WatchKindOptions(start_from_bookmark=bookmark)
    ),
    "single": lambda store, bookmark: store.watch(
        ptr("bookmarked"), WatchOptions(start_from_bookmark=bookmark)
    ),
}


@pytest.mark.parametrize("watch", list(RESUMING_WATCHES))
@pytest.mark.parametrize(
    "bookmark", [b"", b"junk", b"\x00" * 16, b"\xff" * 17], ids=["empty", "short", "zero", "long"]
)
async def test_malformed_bookmarks_are_refused_at_setup(
    store: Store, watch: str, bookmark: bytes
) -> None:
    await bookmark_of_the_next_event(store)

    with pytest.raises(InvalidBookmarkError):
        await RESUMING_WATCHES[watch](store, bookmark)


@pytest.mark.parametrize("watch", list(RESUMING_WATCHES))
async def test_bookmarks_of_another_store_are_refused(store: Store, watch: str) -> None:
    other = Store()
    foreign = await bookmark_of_the_next_event(other)
    other.close()
    await bookmark_of_the_next_event(store)

    with pytest.raises(InvalidBookmarkError):
        await RESUMING_WATCHES[watch](store, foreign)


@pytest.mark.parametrize("watch", list(RESUMING_WATCHES))
async def test_bookmarks_of_another_type_are_refused(store: Store, watch: str) -> None:
    other_kind = Kind(NS, "Others.test.cosi.dev")
    other_watch = await store.watch_kind(other_kind)
    await store.create(make_resource("elsewhere", type=other_kind.type))
    [event] = await next_events(other_watch, 1)
    assert event.bookmark is not None
    await bookmark_of_the_next_event(store)

    with pytest.raises(InvalidBookmarkError):
        await RESUMING_WATCHES[watch](store, event.bookmark)


@pytest.mark.parametrize("watch", list(RESUMING_WATCHES))
async def test_bookmarks_older_than_the_history_are_refused(
    store_factory: StoreFactory, watch: str
) -> None:
    store = store_factory(history_capacity=8)
    old = await bookmark_of_the_next_event(store)
    for i in range(9):  # the event right after the bookmarked one is no longer kept
        await store.create(make_resource(f"r{i}"))

    with pytest.raises(InvalidBookmarkError):
        await RESUMING_WATCHES[watch](store, old)


async def test_a_bookmark_resumes_while_the_next_event_is_in_the_history(
    store_factory: StoreFactory,
) -> None:
    store = store_factory(history_capacity=8)
    old = await bookmark_of_the_next_event(store)  # evicted by the 8 creates below
    for i in range(8):
        await store.create(make_resource(f"r{i}"))

    watch = await store.watch_kind(KIND, WatchKindOptions(start_from_bookmark=old))

    assert resource_ids([e.resource for e in await next_events(watch, 8) if e.resource]) == [
        f"r{i}" for i in range(8)
    ]


# --- Contradictory options -----------------------------------------------------------------------

KIND_OPTIONS: dict[str, Callable[[bytes], WatchKindOptions]] = {
    "bootstrap+tail": lambda _: WatchKindOptions(bootstrap_contents=True, tail_events=1),
    "bootstrap+bookmark": lambda bm: WatchKindOptions(
        bootstrap_contents=True, start_from_bookmark=bm
    ),
    "tail+bookmark": lambda bm: WatchKindOptions(tail_events=1, start_from_bookmark=bm),
    "negative-tail": lambda _: WatchKindOptions(tail_events=-1),
}

SINGLE_OPTIONS: dict[str, Callable[[bytes], WatchOptions]] = {
    "tail+bookmark": lambda bm: WatchOptions(tail_events=1, start_from_bookmark=bm),
    "negative-tail": lambda _: WatchOptions(tail_events=-1),
}


@pytest.mark.parametrize("options", list(KIND_OPTIONS))
async def test_contradictory_kind_watch_options_are_refused(store: Store, options: str) -> None:
    bookmark = await bookmark_of_the_next_event(store)

    with pytest.raises(InvalidWatchOptionsError):
        await store.watch_kind(KIND, KIND_OPTIONS[options](bookmark))


@pytest.mark.parametrize("options", list(SINGLE_OPTIONS))
async def test_contradictory_watch_options_are_refused(store: Store, options: str) -> None:
    bookmark = await bookmark_of_the_next_event(store)

    with pytest.raises(InvalidWatchOptionsError):
        await store.watch(ptr("bookmarked"), SINGLE_OPTIONS[options](bookmark))


# --- Slow watchers, close ------------------------------------------------------------------------


async def test_a_watcher_behind_the_history_gets_errored_and_ends(
    store_factory: StoreFactory,
) -> None:
    store = store_factory(history_capacity=8)
    await store.create(make_resource("watched"))
    slow_kind = await store.watch_kind(KIND)
    slow_single = await store.watch(ptr("watched"))
    keeping_up = await store.watch_kind(KIND)

    for i in range(20):  # the writer never waits for the slow watchers
        await asyncio.wait_for(store.create(make_resource(f"r{i:02}")), 1)
        assert summary(await next_events(keeping_up, 1)) == [(CREATED, f"r{i:02}", 1)]

    [errored] = await next_batch(slow_kind)
    assert errored.type == ERRORED
    assert errored.resource is None
    assert errored.error
    await assert_ended(slow_kind)

    assert summary(await next_events(slow_single, 1)) == [(CREATED, "watched", 1)]
    [errored] = await next_batch(slow_single)
    assert errored.type == ERRORED
    await assert_ended(slow_single)

    assert len(await store.list(KIND)) == 21
    await store.create(make_resource("later"))
    assert summary(await next_events(keeping_up, 1)) == [(CREATED, "later", 1)]


async def test_a_watcher_exactly_one_history_behind_gets_everything(
    store_factory: StoreFactory,
) -> None:
    store = store_factory(history_capacity=8)
    watch = await store.watch_kind(KIND)

    for i in range(8):
        await store.create(make_resource(f"r{i}"))

    events = await next_events(watch, 8)
    assert [e.type for e in events] == [CREATED] * 8


async def test_close_ends_running_watches_with_an_error(store: Store) -> None:
    await store.create(make_resource("a"))
    kind_watch = await store.watch_kind(KIND)
    single_watch = await store.watch(ptr("a"))
    await next_events(single_watch, 1)
    waiting = asyncio.create_task(next_batch(kind_watch))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiting.done()

    store.close()

    with pytest.raises(StoreClosedError):
        await waiting
    with pytest.raises(StoreClosedError):
        await next_batch(single_watch)
    with pytest.raises(StoreClosedError):
        await store.create(make_resource("b"))
