"""Watch over the daemon's socket: ready message, single and kind watches, bootstrap, tails,
bookmarks, queries, batching, legacy clients, latency and slow watchers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc
import pytest

from cosid.api.cosi.resource import resource_pb2, state_pb2
from cosid.server.limits import Limits
from tests.support.daemon import Daemon, running_daemon
from tests.support.wire import (
    BOOTSTRAPPED,
    CREATED,
    DESTROYED,
    ERRORED,
    NOOP,
    NS,
    SCRATCH_NS,
    UPDATED,
    Op,
    changed,
    connect,
    create,
    destroy,
    get,
    kind_watch,
    label_query,
    make_resource,
    single_watch,
    summary,
    term,
    update,
    watch_events,
    watch_setup_error,
    watching,
)

if TYPE_CHECKING:
    from cosid.api.cosi.resource.state_pb2_grpc import StateAsyncStub

LIMITS = Limits()
"""The shared daemon runs with the default limits."""
SMALL_HISTORY = 16
"""The smallest history the configuration allows: easy to outrun."""


@pytest.fixture(scope="module")
def small_history_daemon() -> Iterator[Daemon]:
    with running_daemon(state={"history": SMALL_HISTORY}) as started:
        yield started


async def make_changes(stub: StateAsyncStub, type_name: str) -> None:
    """Six events of two resources: a created, b created, a updated twice, b destroyed, c."""
    a = await create(stub, make_resource("a", type_name))
    await create(stub, make_resource("b", type_name))
    a = await update(stub, changed(a, labels={"step": "1"}))
    await update(stub, changed(a, labels={"step": "2"}))
    await destroy(stub, type_name, "b")
    await create(stub, make_resource("c", type_name))


SIX_CHANGES = [
    ("CREATED", "a", "1"),
    ("CREATED", "b", "1"),
    ("UPDATED", "a", "2"),
    ("UPDATED", "a", "3"),
    ("DESTROYED", "b", "1"),
    ("CREATED", "c", "1"),
]


def is_tombstone(resource: resource_pb2.Resource, type_name: str, id: str) -> bool:
    """Only namespace, type and id, at version "undefined", with a present but empty spec."""
    expected = resource_pb2.Resource(
        metadata=resource_pb2.Metadata(
            namespace=NS, type=type_name, id=id, version="undefined", phase="running"
        ),
        spec=resource_pb2.Spec(),
    )
    return resource.HasField("spec") and resource == expected


# --- Set-up --------------------------------------------------------------------------------------


@pytest.mark.parametrize("single", [False, True], ids=["kind", "single"])
async def test_watch_first_sends_an_empty_ready_response(
    stub: StateAsyncStub, type_name: str, single: bool
) -> None:
    await create(stub, make_resource("a", type_name))
    if single:
        request = single_watch(type_name, "a")
    else:
        request = kind_watch(type_name, bootstrap_contents=True, bootstrap_bookmark=True)

    async with watching(stub, request, ready=False) as watch:
        first = await watch.response()
        second = await watch.response()

    assert first == state_pb2.WatchResponse()
    assert second.event[0].event_type == CREATED
    assert second.event[0].resource.metadata.id == "a"


# --- Single-resource watches ---------------------------------------------------------------------


async def test_single_watch_starts_with_the_current_state_as_created(
    stub: StateAsyncStub, type_name: str
) -> None:
    created = await create(stub, make_resource("a/b", type_name, labels={"x": "y"}), owner="o")
    current = await update(stub, changed(created, finalizers=["f"]), owner="o")

    [event] = await watch_events(stub, single_watch(type_name, "a/b"), 1)

    assert event.event_type == CREATED
    assert event.resource == current
    assert not event.HasField("old")


async def test_single_watch_of_a_missing_resource_starts_with_a_destroyed_tombstone(
    stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("other", type_name))

    [event] = await watch_events(stub, single_watch(type_name, "missing"), 1)

    assert event.event_type == DESTROYED
    assert event.resource.metadata.version == "undefined"
    assert is_tombstone(event.resource, type_name, "missing"), event.resource


async def test_single_watch_then_sends_every_change_of_that_resource_only(
    stub: StateAsyncStub, type_name: str
) -> None:
    async with watching(stub, single_watch(type_name, "a")) as watch:
        assert summary([await watch.event()]) == [("DESTROYED", "a", "undefined")]
        await make_changes(stub, type_name)
        a = await get(stub, type_name, "a")
        await destroy(stub, type_name, "a")
        await create(stub, make_resource("a", type_name, labels={"again": "yes"}))
        events = await watch.events(5)
        await watch.quiet()

    assert summary(events) == [
        ("CREATED", "a", "1"),
        ("UPDATED", "a", "2"),
        ("UPDATED", "a", "3"),
        ("DESTROYED", "a", "3"),
        ("CREATED", "a", "1"),
    ]
    assert events[3].resource == a
    assert events[4].resource.metadata.labels == {"again": "yes"}


# --- Kind watches --------------------------------------------------------------------------------


async def test_kind_watch_sends_every_change_of_the_kind_with_old_and_last_state(
    stub: StateAsyncStub, type_name: str
) -> None:
    async with watching(stub, kind_watch(type_name)) as watch:
        a1 = await create(stub, make_resource("a", type_name))
        await create(stub, make_resource("a", f"Other{type_name}"))
        await create(stub, make_resource("a", type_name, ns=SCRATCH_NS))
        b1 = await create(stub, make_resource("b", type_name))
        a2 = await update(stub, changed(a1, labels={"v": "2"}))
        b2 = await update(stub, changed(b1, finalizers=["f"]))
        b3 = await update(stub, changed(b2, finalizers=[]))
        await destroy(stub, type_name, "b")
        events = await watch.events(6)
        await watch.quiet()

    assert summary(events) == [
        ("CREATED", "a", "1"),
        ("CREATED", "b", "1"),
        ("UPDATED", "a", "2"),
        ("UPDATED", "b", "2"),
        ("UPDATED", "b", "3"),
        ("DESTROYED", "b", "3"),
    ]
    assert [e.resource for e in events[:5]] == [a1, b1, a2, b2, b3]
    assert [e.old for e in events[2:5]] == [a1, b1, b2]
    assert not events[0].HasField("old")
    assert events[5].resource == b3


async def test_bootstrap_contents_sends_each_resource_in_id_order_then_bootstrapped(
    stub: StateAsyncStub, type_name: str
) -> None:
    for id in ("c", "a/z", "b", "a"):
        await create(stub, make_resource(id, type_name))
    stored = {id: await get(stub, type_name, id) for id in ("a", "a/z", "b", "c")}

    async with watching(stub, kind_watch(type_name, bootstrap_contents=True)) as watch:
        bootstrap = await watch.events(5)
        await create(stub, make_resource("d", type_name))
        live = await watch.event()

    assert summary(bootstrap[:4]) == [("CREATED", id, "1") for id in ("a", "a/z", "b", "c")]
    assert [e.resource for e in bootstrap[:4]] == list(stored.values())
    bootstrapped = bootstrap[4]
    assert bootstrapped.event_type == BOOTSTRAPPED
    assert is_tombstone(bootstrapped.resource, type_name, ""), bootstrapped.resource
    assert bootstrapped.HasField("bookmark")
    assert summary([live]) == [("CREATED", "d", "1")]


async def test_bootstrap_of_an_empty_kind_is_just_bootstrapped(
    stub: StateAsyncStub, type_name: str
) -> None:
    [event] = await watch_events(stub, kind_watch(type_name, bootstrap_contents=True), 1)

    assert event.event_type == BOOTSTRAPPED
    assert event.HasField("bookmark")


async def test_bootstrap_bookmark_sends_a_noop_with_a_bookmark_first(
    stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("a", type_name))

    async with watching(stub, kind_watch(type_name, bootstrap_bookmark=True)) as watch:
        noop = await watch.event()
        await watch.quiet()
        await create(stub, make_resource("b", type_name))
        live = await watch.event()

    assert noop.event_type == NOOP
    assert is_tombstone(noop.resource, type_name, ""), noop.resource
    assert noop.HasField("bookmark")
    assert summary([live]) == [("CREATED", "b", "1")]


async def test_bootstrap_bookmark_comes_after_the_bootstrap(
    stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("a", type_name))
    request = kind_watch(type_name, bootstrap_contents=True, bootstrap_bookmark=True)

    events = await watch_events(stub, request, 3)

    assert [e.event_type for e in events] == [CREATED, BOOTSTRAPPED, NOOP]


async def test_tail_events_replays_the_last_events_of_the_kind(
    stub: StateAsyncStub, type_name: str
) -> None:
    await make_changes(stub, type_name)

    async with watching(stub, kind_watch(type_name, tail_events=4)) as watch:
        tail = await watch.events(4)
        await watch.quiet()
        await create(stub, make_resource("d", type_name))
        live = await watch.event()

    assert summary(tail) == SIX_CHANGES[2:]
    assert summary([live]) == [("CREATED", "d", "1")]
    everything = await watch_events(stub, kind_watch(type_name, tail_events=100), 7)
    assert summary(everything) == [*SIX_CHANGES, ("CREATED", "d", "1")]


async def test_tail_events_replays_the_last_events_of_one_resource(
    stub: StateAsyncStub, type_name: str
) -> None:
    await make_changes(stub, type_name)

    async with watching(stub, single_watch(type_name, "a", tail_events=2)) as watch:
        tail = await watch.events(2)
        await watch.quiet()
        await update(stub, await get(stub, type_name, "a"))
        live = await watch.event()

    assert summary(tail) == [("UPDATED", "a", "2"), ("UPDATED", "a", "3")]
    assert summary([live]) == [("UPDATED", "a", "4")]
    b_events = await watch_events(stub, single_watch(type_name, "b", tail_events=10), 2)
    assert summary(b_events) == [("CREATED", "b", "1"), ("DESTROYED", "b", "1")]


# --- Bookmarks -----------------------------------------------------------------------------------


async def test_every_event_after_bootstrap_carries_a_bookmark(
    stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("existing", type_name))
    label = [label_query(term("step", Op.EQUAL, "1"))]

    async with (
        watching(stub, kind_watch(type_name, bootstrap_contents=True)) as kind,
        watching(stub, kind_watch(type_name, label_query=label)) as queried,
        watching(stub, single_watch(type_name, "a")) as single,
    ):
        bootstrap = await kind.events(2)
        await make_changes(stub, type_name)
        events = await kind.events(6)
        synthetic = await queried.events(2)
        single_events = await single.events(4)

    assert [e.event_type for e in bootstrap] == [CREATED, BOOTSTRAPPED]
    assert summary(synthetic) == [("CREATED", "a", "2"), ("DESTROYED", "a", "3")]
    for event in [bootstrap[1], *events, *synthetic, *single_events]:
        assert event.HasField("bookmark"), event
        assert event.bookmark
    assert len({e.bookmark for e in events}) == 6


async def test_start_from_bookmark_resumes_right_after_the_bookmarked_event(
    stub: StateAsyncStub, type_name: str
) -> None:
    async with watching(stub, kind_watch(type_name)) as watch:
        await make_changes(stub, type_name)
        events = await watch.events(6)

    for index, event in enumerate(events[:-1]):
        request = kind_watch(type_name, start_from_bookmark=event.bookmark)
        resumed = await watch_events(stub, request, 5 - index)
        assert resumed == events[index + 1 :], f"resuming after event {index}"
    async with watching(stub, kind_watch(type_name, start_from_bookmark=events[5].bookmark)) as w:
        await w.quiet()
        await create(stub, make_resource("d", type_name))
        assert summary([await w.event()]) == [("CREATED", "d", "1")]


async def test_start_from_a_bootstrapped_bookmark_resumes_after_the_bootstrap(
    stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("before", type_name))
    request = kind_watch(type_name, bootstrap_contents=True)
    [_, bootstrapped] = await watch_events(stub, request, 2)
    await make_changes(stub, type_name)

    resumed = kind_watch(type_name, start_from_bookmark=bootstrapped.bookmark)
    assert summary(await watch_events(stub, resumed, 6)) == SIX_CHANGES


async def test_start_from_a_noop_bookmark_resumes_after_it(
    stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("before", type_name))
    [noop] = await watch_events(stub, kind_watch(type_name, bootstrap_bookmark=True), 1)
    await make_changes(stub, type_name)

    resumed = kind_watch(type_name, start_from_bookmark=noop.bookmark)
    assert summary(await watch_events(stub, resumed, 6)) == SIX_CHANGES


async def test_a_single_watch_resumes_from_a_bookmark(stub: StateAsyncStub, type_name: str) -> None:
    async with watching(stub, single_watch(type_name, "a")) as watch:
        await make_changes(stub, type_name)
        events = await watch.events(4)

    assert summary(events) == [
        ("DESTROYED", "a", "undefined"),
        *SIX_CHANGES[0:1],
        *SIX_CHANGES[2:4],
    ]
    for index, event in enumerate(events[:-1]):
        request = single_watch(type_name, "a", start_from_bookmark=event.bookmark)
        assert await watch_events(stub, request, 3 - index) == events[index + 1 :]
    kind_bookmark = (await watch_events(stub, kind_watch(type_name, tail_events=6), 6))[1].bookmark
    from_kind = single_watch(type_name, "a", start_from_bookmark=kind_bookmark)
    assert summary(await watch_events(stub, from_kind, 2)) == SIX_CHANGES[2:4]


async def test_a_bookmark_of_another_type_is_failed_precondition_at_setup(
    stub: StateAsyncStub, type_name: str
) -> None:
    other = f"Other{type_name}"
    await create(stub, make_resource("a", other))
    [event] = await watch_events(stub, kind_watch(other, tail_events=1), 1)
    await create(stub, make_resource("a", type_name))

    for request in (
        kind_watch(type_name, start_from_bookmark=event.bookmark),
        single_watch(type_name, "a", start_from_bookmark=event.bookmark),
    ):
        error = await watch_setup_error(stub, request)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_bookmark_older_than_the_history_is_failed_precondition_at_setup(
    small_history_daemon: Daemon, type_name: str
) -> None:
    async with connect(small_history_daemon.endpoint) as stub:
        first = await create(stub, make_resource("a", type_name))
        [event] = await watch_events(stub, kind_watch(type_name, tail_events=1), 1)
        current = first
        for _ in range(SMALL_HISTORY + 1):
            current = await update(stub, current)

        error = await watch_setup_error(
            stub, kind_watch(type_name, start_from_bookmark=event.bookmark)
        )

        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_bookmark_from_a_previous_daemon_run_is_refused(
    daemon: Daemon, type_name: str
) -> None:
    async with connect(daemon.endpoint) as stub:
        await create(stub, make_resource("a", type_name))
        [event] = await watch_events(stub, kind_watch(type_name, tail_events=1), 1)
    assert daemon.stop() == 0
    daemon.start()

    async with connect(daemon.endpoint) as stub:
        assert (await get(stub, type_name, "a")).metadata.version == "1"
        for request in (
            kind_watch(type_name, start_from_bookmark=event.bookmark),
            single_watch(type_name, "a", start_from_bookmark=event.bookmark),
        ):
            error = await watch_setup_error(stub, request)
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


# --- Queries -------------------------------------------------------------------------------------


async def test_label_query_watch_sends_synthetic_created_and_destroyed(
    stub: StateAsyncStub, type_name: str
) -> None:
    prod = [label_query(term("env", Op.EQUAL, "prod"))]

    async with watching(stub, kind_watch(type_name, label_query=prod)) as watch:
        a = await create(stub, make_resource("a", type_name, labels={"env": "prod"}))
        b = await create(stub, make_resource("b", type_name, labels={"env": "dev"}))
        b = await update(stub, changed(b, labels={"env": "prod"}))
        a = await update(stub, changed(a, labels={"env": "dev"}))
        a = await update(stub, changed(a, labels={"env": "dev", "still": "dev"}))
        b = await update(stub, changed(b, labels={"env": "prod", "more": "yes"}))
        await destroy(stub, type_name, "a")
        await destroy(stub, type_name, "b")
        events = await watch.events(5)
        await watch.quiet()

    assert summary(events) == [
        ("CREATED", "a", "1"),
        ("CREATED", "b", "2"),
        ("DESTROYED", "a", "2"),
        ("UPDATED", "b", "3"),
        ("DESTROYED", "b", "3"),
    ]
    assert events[1].resource.metadata.labels == {"env": "prod"}
    assert events[3].old.metadata.labels == {"env": "prod"}
    assert all(e.HasField("bookmark") for e in events)


async def test_a_queried_watch_resumes_with_the_same_synthetic_events(
    stub: StateAsyncStub, type_name: str
) -> None:
    step_1 = [label_query(term("step", Op.EQUAL, "1"))]
    async with watching(stub, kind_watch(type_name, label_query=step_1, aggregated=True)) as w:
        await make_changes(stub, type_name)
        await create(stub, make_resource("d", type_name, labels={"step": "1"}))
        events = await w.events(3)

    assert summary(events) == [
        ("CREATED", "a", "2"),
        ("DESTROYED", "a", "3"),
        ("CREATED", "d", "1"),
    ]
    for index, event in enumerate(events):
        request = kind_watch(type_name, label_query=step_1, start_from_bookmark=event.bookmark)
        assert await watch_events(stub, request, 2 - index) == events[index + 1 :]


async def test_id_query_watch_sends_matching_ids_only(stub: StateAsyncStub, type_name: str) -> None:
    await create(stub, make_resource("keep/1", type_name))
    await create(stub, make_resource("drop/1", type_name))
    request = kind_watch(
        type_name, bootstrap_contents=True, id_query=resource_pb2.IDQuery(regexp="^keep/")
    )

    async with watching(stub, request) as watch:
        bootstrap = await watch.events(2)
        drop = await create(stub, make_resource("drop/2", type_name))
        keep = await create(stub, make_resource("keep/2", type_name))
        await update(stub, drop)
        await update(stub, keep)
        await destroy(stub, type_name, "drop/1")
        await destroy(stub, type_name, "keep/1")
        events = await watch.events(3)
        await watch.quiet()

    assert summary(bootstrap) == [("CREATED", "keep/1", "1"), ("BOOTSTRAPPED", "", "undefined")]
    assert summary(events) == [
        ("CREATED", "keep/2", "1"),
        ("UPDATED", "keep/2", "2"),
        ("DESTROYED", "keep/1", "1"),
    ]


# --- Batching and legacy clients -----------------------------------------------------------------


async def test_aggregated_watch_sends_several_events_in_one_response(
    stub: StateAsyncStub, type_name: str
) -> None:
    for id in ("a", "b", "c"):
        await create(stub, make_resource(id, type_name))
    bootstrap = kind_watch(type_name, bootstrap_contents=True, aggregated=True)
    tail = kind_watch(type_name, tail_events=3, aggregated=True)

    async with watching(stub, bootstrap) as by_bootstrap, watching(stub, tail) as by_tail:
        bootstrap_batch = await by_bootstrap.response()
        tail_batch = await by_tail.response()

    assert [e.event_type for e in bootstrap_batch.event] == [
        CREATED,
        CREATED,
        CREATED,
        BOOTSTRAPPED,
    ]
    assert summary(tail_batch.event) == [("CREATED", id, "1") for id in ("a", "b", "c")]


async def test_aggregated_responses_stay_within_the_message_size_limit(
    stub: StateAsyncStub, type_name: str
) -> None:
    large = "x" * (LIMITS.max_message_bytes // 5)
    for n in range(6):
        await create(stub, make_resource(f"r{n}", type_name, yaml_spec=large))
    bootstrap = kind_watch(type_name, bootstrap_contents=True, aggregated=True)
    tail = kind_watch(type_name, tail_events=6, aggregated=True)

    for request, expected in ((bootstrap, 7), (tail, 6)):
        replies: list[state_pb2.WatchResponse] = []
        async with watching(stub, request) as watch:
            while sum(len(reply.event) for reply in replies) < expected:
                replies.append(await watch.response())
            await watch.quiet()

        events = [event for reply in replies for event in reply.event]
        assert [e.resource.metadata.id for e in events[:6]] == [f"r{n}" for n in range(6)]
        assert len(replies) > 1
        assert max(reply.ByteSize() for reply in replies) <= LIMITS.max_message_bytes


async def test_unaggregated_watch_sends_one_event_per_response(
    stub: StateAsyncStub, type_name: str
) -> None:
    for id in ("a", "b", "c"):
        await create(stub, make_resource(id, type_name))

    async with watching(stub, kind_watch(type_name, bootstrap_contents=True)) as watch:
        replies = [await watch.response() for _ in range(4)]

    assert [len(reply.event) for reply in replies] == [1, 1, 1, 1]
    assert [reply.event[0].event_type for reply in replies][-1] == BOOTSTRAPPED


async def test_api_version_0_is_never_sent_bootstrapped(
    stub: StateAsyncStub, type_name: str
) -> None:
    for id in ("a", "b"):
        await create(stub, make_resource(id, type_name))
    request = kind_watch(type_name, api_version=0, bootstrap_contents=True, bootstrap_bookmark=True)

    async with watching(stub, request) as watch:
        bootstrap = await watch.events(3)
        await watch.quiet()
        await create(stub, make_resource("c", type_name))
        live = await watch.event()

    assert [e.event_type for e in bootstrap] == [CREATED, CREATED, NOOP]
    assert summary([live]) == [("CREATED", "c", "1")]


# --- Timeliness and slow watchers ----------------------------------------------------------------


async def test_events_reach_every_watcher_promptly(stub: StateAsyncStub, type_name: str) -> None:
    watchers = 5
    latencies: list[float] = []
    async with (
        watching(stub, kind_watch(type_name)) as w1,
        watching(stub, kind_watch(type_name, aggregated=True)) as w2,
        watching(stub, single_watch(type_name, "a")) as w3,
        watching(stub, kind_watch(type_name, label_query=[label_query(term("n"))])) as w4,
        watching(stub, kind_watch(type_name, id_query=resource_pb2.IDQuery(regexp="a"))) as w5,
    ):
        await w3.event()  # the initial tombstone
        current = await create(stub, make_resource("a", type_name, labels={"n": "0"}))
        for stream in (w1, w2, w3, w4, w5):
            await stream.event()
        for n in range(1, 11):
            written = time.monotonic()
            current = await update(stub, changed(current, labels={"n": str(n)}))
            for stream in (w1, w2, w3, w4, w5):
                event = await stream.event(within=1.0)
                assert event.resource.metadata.version == str(n + 1)
                latencies.append(time.monotonic() - written)

    assert len(latencies) == 10 * watchers
    assert max(latencies) < 1.0, sorted(latencies)[-5:]


@pytest.mark.parametrize("api_version", [1, 0])
async def test_a_slow_watcher_gets_errored_and_its_stream_ends_while_writers_go_on(
    small_history_daemon: Daemon, type_name: str, api_version: int
) -> None:
    big = "x" * (64 * 1024)
    writes = 300
    async with connect(small_history_daemon.endpoint) as stub:
        current = await create(stub, make_resource("a", type_name))
        async with watching(stub, kind_watch(type_name, api_version=api_version)) as slow:
            slowest_write = 0.0
            for _ in range(writes):  # the watcher reads nothing meanwhile
                started = time.monotonic()
                current = await update(stub, changed(current, annotations={"big": big}))
                slowest_write = max(slowest_write, time.monotonic() - started)

            received, code = await slow.ended(within=5.0)

        assert current.metadata.version == str(writes + 1)
        assert slowest_write < 2.0, "a writer waited for the watcher"
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert 0 < len(received) < writes
        versions = [int(e.resource.metadata.version) for e in received if e.event_type == UPDATED]
        assert versions == list(range(2, 2 + len(versions))), "delivered events have no gap"
        if api_version == 1:
            errored = received[-1]
            assert errored.event_type == ERRORED
            assert errored.HasField("error")
            assert errored.error
            assert not errored.HasField("resource")
        else:
            assert ERRORED not in [e.event_type for e in received]
            assert len(versions) == len(received)

        async with watching(stub, kind_watch(type_name, tail_events=1)) as fresh:
            assert summary([await fresh.event()]) == [("UPDATED", "a", str(writes + 1))]
