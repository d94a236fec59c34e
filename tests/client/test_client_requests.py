"""Exactly what the client puts on the wire, seen through grpcio-testing's fake channel.

This is the one place where the daemon is faked, on purpose: a real daemon answers the same
whether or not, say, `expected_phase` was sent as empty or left out, so only a fake channel
can tell. The client is synchronous, so it runs in a thread while the test plays the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
import grpc_testing
import pytest
from google.protobuf.message import Message

from cosid.api.cosi.resource import resource_pb2, state_pb2
from cosid.client import Client
from cosid.state.codec import event_to_wire, resource_to_wire
from cosid.state.events import Event, EventType
from cosid.state.query import IDQuery, LabelOp, LabelQuery, LabelTerm, ResourceQuery
from cosid.state.resource import Kind, Metadata, Phase, Pointer, Resource, Spec
from cosid.state.state import WatchKindOptions, WatchOptions

pytestmark = pytest.mark.timeout(10)  # a call the test waits for but never comes must not hang

STATE = state_pb2.DESCRIPTOR.services_by_name["State"]
KIND = Kind("default", "Greetings.example.org")
STORED = Resource(
    Metadata(KIND.namespace, KIND.type, "hello", version=3, owner="greeter", labels={"a": "b"}),
    Spec(proto=b"\x01", yaml="text: hello\n"),
)

OP = resource_pb2.LabelTerm.Operation

Result = TypeVar("Result")


@pytest.fixture
def channel() -> Any:
    return grpc_testing.channel([STATE], grpc_testing.strict_real_time())


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as executor:
        yield executor


def unary(
    channel: Any,
    pool: ThreadPoolExecutor,
    method: str,
    call: Callable[[Client], Result],
    response: Message,
    code: grpc.StatusCode = grpc.StatusCode.OK,
) -> tuple[Any, Future[Result]]:
    """Run `call` on a client of the fake channel; answer its one RPC; (request, outcome)."""
    outcome = pool.submit(call, Client(channel))
    _, request, rpc = channel.take_unary_unary(STATE.methods_by_name[method])
    rpc.terminate(response, (), code, "" if code == grpc.StatusCode.OK else "refused")
    return request, outcome


def test_get_sends_the_pointer_and_returns_the_model(
    channel: Any, pool: ThreadPoolExecutor
) -> None:
    request, outcome = unary(
        channel,
        pool,
        "Get",
        lambda client: client.get(STORED.pointer),
        state_pb2.GetResponse(resource=resource_to_wire(STORED)),
    )
    assert request == state_pb2.GetRequest(namespace="default", type=KIND.type, id="hello")
    assert outcome.result() == STORED


def test_errors_surface_as_the_rpc_error_with_its_code(
    channel: Any, pool: ThreadPoolExecutor
) -> None:
    _, outcome = unary(
        channel,
        pool,
        "Get",
        lambda client: client.get(Pointer("default", KIND.type, "nobody")),
        state_pb2.GetResponse(),
        grpc.StatusCode.NOT_FOUND,
    )
    with pytest.raises(grpc.RpcError) as error:
        outcome.result()
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert error.value.details() == "refused"


def test_create_sends_the_resource_and_the_owner_in_the_options(
    channel: Any, pool: ThreadPoolExecutor
) -> None:
    fresh = STORED.with_metadata(version=0, owner="")
    request, _ = unary(
        channel,
        pool,
        "Create",
        lambda client: client.create(fresh, owner="greeter"),
        state_pb2.CreateResponse(resource=resource_to_wire(STORED)),
    )
    assert request.options.owner == "greeter"
    assert request.resource.metadata.version == "undefined"
    assert request.resource.spec == resource_pb2.Spec(proto_spec=b"\x01", yaml_spec="text: hello\n")


def test_update_sends_the_read_version_as_decimal_text_and_leaves_out_no_expected_phase(
    channel: Any, pool: ThreadPoolExecutor
) -> None:
    request, outcome = unary(
        channel,
        pool,
        "Update",
        lambda client: client.update(STORED, owner="greeter"),
        state_pb2.UpdateResponse(resource=resource_to_wire(STORED.with_metadata(version=4))),
    )
    assert request.new_resource.metadata.version == "3"
    assert request.options.owner == "greeter"
    assert not request.options.HasField("expected_phase")
    assert outcome.result().version == 4


@pytest.mark.parametrize(
    ("phase", "wire"), [(Phase.RUNNING, "running"), (Phase.TEARING_DOWN, "tearingDown")]
)
def test_update_sends_an_expected_phase_when_given(
    channel: Any, pool: ThreadPoolExecutor, phase: Phase, wire: str
) -> None:
    request, _ = unary(
        channel,
        pool,
        "Update",
        lambda client: client.update(STORED, expected_phase=phase),
        state_pb2.UpdateResponse(resource=resource_to_wire(STORED)),
    )
    assert request.options.HasField("expected_phase")
    assert request.options.expected_phase == wire
    assert request.options.owner == ""


def test_list_sends_label_queries_and_the_id_regexp(channel: Any, pool: ThreadPoolExecutor) -> None:
    query = ResourceQuery(
        [
            LabelQuery((LabelTerm("lang", LabelOp.IN, ("en", "de"), invert=True),)),
            LabelQuery((LabelTerm("size", LabelOp.LTE_NUMERIC, ("1Mi",)), LabelTerm("lang"))),
        ],
        IDQuery("^a"),
    )
    outcome = pool.submit(lambda: Client(channel).list(KIND, query))
    _, request, rpc = channel.take_unary_stream(STATE.methods_by_name["List"])
    rpc.send_response(state_pb2.ListResponse(resource=resource_to_wire(STORED)))
    rpc.terminate((), grpc.StatusCode.OK, "")
    assert request == state_pb2.ListRequest(
        namespace="default",
        type=KIND.type,
        options=state_pb2.ListOptions(
            label_query=[
                resource_pb2.LabelQuery(
                    terms=[
                        resource_pb2.LabelTerm(
                            key="lang", op=OP.IN, value=["en", "de"], invert=True
                        )
                    ]
                ),
                resource_pb2.LabelQuery(
                    terms=[
                        resource_pb2.LabelTerm(key="size", op=OP.LTE_NUMERIC, value=["1Mi"]),
                        resource_pb2.LabelTerm(key="lang", op=OP.EXISTS),
                    ]
                ),
            ],
            id_query=resource_pb2.IDQuery(regexp="^a"),
        ),
    )
    assert outcome.result() == [STORED]


def test_watch_kind_sends_its_options_and_yields_events_after_the_ready_message(
    channel: Any, pool: ThreadPoolExecutor
) -> None:
    options = WatchKindOptions(bootstrap_contents=True, bootstrap_bookmark=True, tail_events=5)
    opened = pool.submit(lambda: Client(channel).watch_kind(KIND, options))
    _, request, rpc = channel.take_unary_stream(STATE.methods_by_name["Watch"])
    rpc.send_response(state_pb2.WatchResponse())  # "ready"
    stream = opened.result()
    created = Event(EventType.CREATED, STORED, bookmark=b"1")
    updated = Event(EventType.UPDATED, STORED.with_metadata(version=4), STORED, b"2")
    rpc.send_response(
        state_pb2.WatchResponse(event=[event_to_wire(created), event_to_wire(updated)])
    )
    rpc.terminate((), grpc.StatusCode.OK, "")

    assert request.api_version == 1  # so that BOOTSTRAPPED and ERRORED are sent
    assert not request.HasField("id")
    assert request.options.bootstrap_contents
    assert request.options.bootstrap_bookmark
    assert request.options.tail_events == 5
    assert not request.options.HasField("start_from_bookmark")
    assert list(stream) == [created, updated]


def test_watch_of_one_resource_sends_its_id_and_the_bookmark(
    channel: Any, pool: ThreadPoolExecutor
) -> None:
    options = WatchOptions(start_from_bookmark=b"")
    opened = pool.submit(lambda: Client(channel).watch(STORED.pointer, options))
    _, request, rpc = channel.take_unary_stream(STATE.methods_by_name["Watch"])
    rpc.terminate((), grpc.StatusCode.OK, "")  # ends before "ready": a stream with no events
    assert list(opened.result()) == []
    assert request.HasField("id")
    assert request.id == "hello"
    assert request.options.HasField("start_from_bookmark")  # even an empty bookmark is sent
    assert not request.options.bootstrap_contents
