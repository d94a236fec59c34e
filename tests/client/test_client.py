"""The client library against a real daemon over its real unix socket.

Every test works on its own kind (`kind`), so they share one daemon safely.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from itertools import islice

import grpc
import pytest

from cosid.client import Client, EventStream
from cosid.state.events import Event, EventType
from cosid.state.query import IDQuery, LabelOp, LabelQuery, LabelTerm, ResourceQuery
from cosid.state.registry import PrintColumn
from cosid.state.resource import Kind, Metadata, Phase, Pointer, Resource, Spec
from cosid.state.state import WatchKindOptions, WatchOptions
from tests.support.daemon import Daemon

READ_TIMEOUT = 2.0


@pytest.fixture
def client(shared_daemon: Daemon) -> Iterator[Client]:
    with Client.connect(shared_daemon.endpoint) as connected:
        yield connected


def greeting(
    kind: Kind,
    id: str,
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    finalizers: tuple[str, ...] = (),
) -> Resource:
    metadata = Metadata(
        kind.namespace,
        kind.type,
        id,
        labels=labels or {},
        annotations=annotations or {},
        finalizers=finalizers,
    )
    return respec(Resource(metadata), "hello")


def respec(resource: Resource, text: str) -> Resource:
    return Resource(resource.metadata, Spec(proto=text.encode(), yaml=f"text: {text}\n"))


def take(stream: EventStream, n: int, timeout: float = READ_TIMEOUT) -> list[Event]:
    """Exactly the next `n` events; the stream is closed (and the test fails) if they are late."""
    timer = threading.Timer(timeout, stream.close)
    timer.start()
    try:
        events = list(islice(stream, n))
    finally:
        timer.cancel()
    assert len(events) == n, f"expected {n} events within {timeout}s, got {summary(events)}"
    return events


def summary(events: list[Event]) -> list[tuple[str, str, int]]:
    return [
        (
            e.type.name,
            e.resource.metadata.id if e.resource else "",
            e.resource.version if e.resource else 0,
        )
        for e in events
    ]


def test_create_get_update_round_trip_model_values(client: Client, kind: Kind) -> None:
    sent = greeting(
        kind,
        "hello",
        labels={"lang": "en"},
        annotations={"note": "first"},
        finalizers=("cleanup",),
    )
    created = client.create(sent, owner="greeter")
    assert created.version == 1
    assert created.metadata.owner == "greeter"
    assert created.metadata.created is not None
    assert created.spec == sent.spec
    assert client.get(sent.pointer) == created

    updated = client.update(respec(created, "hi"), owner="greeter")
    assert updated.version == 2
    assert updated.spec.yaml == "text: hi\n"
    assert updated.metadata.labels == {"lang": "en"}
    assert updated.metadata.finalizers == ("cleanup",)
    assert client.get(sent.pointer) == updated


def test_errors_are_the_rpc_errors_of_the_daemon(client: Client, kind: Kind) -> None:
    created = client.create(greeting(kind, "hello"))
    with pytest.raises(grpc.RpcError) as missing:
        client.get(Pointer(kind.namespace, kind.type, "nobody"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as duplicate:
        client.create(greeting(kind, "hello"))
    assert duplicate.value.code() == grpc.StatusCode.ALREADY_EXISTS
    client.update(created)
    with pytest.raises(grpc.RpcError) as stale:
        client.update(created)  # still carries version 1
    assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_owner_guards_update_and_destroy(client: Client, kind: Kind) -> None:
    created = client.create(greeting(kind, "hello"), owner="greeter")
    with pytest.raises(grpc.RpcError) as denied:
        client.destroy(created.pointer)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as denied:
        client.update(created, owner="someone-else")
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    client.destroy(created.pointer, owner="greeter")
    assert client.list(kind) == []


def test_teardown_waits_for_finalizers_and_update_checks_the_expected_phase(
    client: Client, kind: Kind
) -> None:
    created = client.create(greeting(kind, "hello", finalizers=("cleanup",)))
    assert client.teardown(created.pointer) is False
    torn = client.get(created.pointer)
    assert torn.metadata.phase == Phase.TEARING_DOWN
    with pytest.raises(grpc.RpcError) as wrong_phase:
        client.update(torn, expected_phase=Phase.RUNNING)
    assert wrong_phase.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as pending:
        client.destroy(created.pointer)
    assert pending.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    client.update(torn.with_metadata(finalizers=()), expected_phase=Phase.TEARING_DOWN)
    assert client.teardown(created.pointer) is True
    client.destroy(created.pointer)

    other = client.create(greeting(kind, "other"), owner="greeter")
    client.teardown_and_destroy(other.pointer, owner="greeter")
    assert client.list(kind) == []


def test_list_filters_by_label_queries_and_id_regexp(client: Client, kind: Kind) -> None:
    for id, labels in [
        ("a", {"lang": "en", "size": "10k"}),
        ("b", {"lang": "de", "size": "2M"}),
        ("c", {"lang": "fr"}),
        ("d", {}),
    ]:
        client.create(greeting(kind, id, labels=labels))

    def ids(query: ResourceQuery) -> list[str]:
        return [r.metadata.id for r in client.list(kind, query)]

    english = LabelQuery((LabelTerm("lang", LabelOp.EQUAL, ("en",)),))
    not_french = LabelQuery((LabelTerm("lang", LabelOp.IN, ("fr",), invert=True),))
    small = LabelQuery((LabelTerm("size", LabelOp.LT_NUMERIC, ("1M",)),))
    assert ids(ResourceQuery()) == ["a", "b", "c", "d"]
    assert ids(ResourceQuery([english])) == ["a"]
    assert ids(ResourceQuery([not_french])) == ["a", "b", "d"]
    assert ids(ResourceQuery([small])) == ["a"]
    assert ids(ResourceQuery([english, LabelQuery((LabelTerm("size"),))])) == ["a", "b"]
    assert ids(ResourceQuery([not_french], IDQuery("^[bcd]$"))) == ["b", "d"]


def test_watch_kind_bootstraps_then_follows_changes(client: Client, kind: Kind) -> None:
    client.create(greeting(kind, "a"))
    with client.watch_kind(kind, WatchKindOptions(bootstrap_contents=True)) as stream:
        bootstrap = take(stream, 2)
        assert summary(bootstrap) == [("CREATED", "a", 1), ("BOOTSTRAPPED", "", 0)]
        b = client.create(greeting(kind, "b"))
        b2 = client.update(respec(b, "bonjour"))
        client.destroy(b2.pointer)
        changes = take(stream, 3)
    assert summary(changes) == [("CREATED", "b", 1), ("UPDATED", "b", 2), ("DESTROYED", "b", 2)]
    assert changes[1].old == b
    assert all(event.bookmark for event in changes)


def test_watch_kind_filters_with_a_query(client: Client, kind: Kind) -> None:
    query = ResourceQuery([LabelQuery((LabelTerm("lang", LabelOp.EQUAL, ("en",)),))])
    with client.watch_kind(kind, WatchKindOptions(query=query)) as stream:
        client.create(greeting(kind, "de", labels={"lang": "de"}))
        client.create(greeting(kind, "en", labels={"lang": "en"}))
        assert summary(take(stream, 1)) == [("CREATED", "en", 1)]


def test_watch_one_resource_starts_with_its_state_and_resumes_from_a_bookmark(
    client: Client, kind: Kind
) -> None:
    pointer = greeting(kind, "hello").pointer
    with client.watch(pointer) as stream:
        assert summary(take(stream, 1)) == [("DESTROYED", "hello", 0)]  # a tombstone
        created = client.create(greeting(kind, "hello"))
        client.update(respec(created, "hi"))
        created_event, updated_event = take(stream, 2)
    assert summary([created_event, updated_event]) == [
        ("CREATED", "hello", 1),
        ("UPDATED", "hello", 2),
    ]

    with client.watch(pointer, WatchOptions(start_from_bookmark=created_event.bookmark)) as resumed:
        assert summary(take(resumed, 1)) == [("UPDATED", "hello", 2)]
    with client.watch(pointer, WatchOptions(tail_events=2)) as tailed:
        assert [e.type for e in take(tailed, 2)] == [EventType.CREATED, EventType.UPDATED]


def test_watch_set_up_errors_raise_when_the_watch_is_opened(client: Client, kind: Kind) -> None:
    options = WatchKindOptions(start_from_bookmark=b"not a bookmark")
    with pytest.raises(grpc.RpcError) as refused:
        client.watch_kind(kind, options)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_closing_a_stream_from_another_thread_ends_its_iteration(
    client: Client, kind: Kind
) -> None:
    stream = client.watch_kind(kind)
    threading.Timer(0.1, stream.close).start()
    assert list(stream) == []


def test_resolve_type_through_the_daemons_resource_definitions(client: Client, kind: Kind) -> None:
    namespaces = ("Namespaces.meta.cosi.dev", "meta")
    definitions = ("ResourceDefinitions.meta.cosi.dev", "meta")
    expected = {
        "ns": namespaces,
        "NS": namespaces,
        "namespaces": namespaces,
        "namespace": namespaces,
        "namespaces.meta.cosi.dev": namespaces,
        "rd": definitions,
        "api-resources": definitions,
        "ResourceDefinitions.meta.cosi.dev": definitions,
        kind.type: (kind.type, "default"),  # unknown: taken literally
    }
    assert {name: client.resolve_type(name) for name in expected} == expected


def test_definitions_carry_display_types_and_print_columns(client: Client) -> None:
    definitions = {d.type: d for d in client.definitions()}
    assert {"Namespaces.meta.cosi.dev", "ResourceDefinitions.meta.cosi.dev"} <= set(definitions)
    rd = definitions["ResourceDefinitions.meta.cosi.dev"]
    assert rd.display_type == "ResourceDefinition"
    assert rd.print_columns == (PrintColumn("Aliases", "{.aliases[:]}"),)
    assert {"rd", "api-resources", "resourcedefinitions"} <= rd.aliases
