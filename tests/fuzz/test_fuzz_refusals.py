"""Refused requests change nothing: every mutating RPC gets fuzzed requests with one field that
is always invalid (a poisoned id), and the specs read back through State List are the same
before and after the batch."""

from __future__ import annotations

from typing import Any, Final

import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from cosid.api.cosi.resource import state_pb2, state_pb2_grpc
from cosid.resources.catalog import TYPED_APIS
from cosid.state.resource import Kind
from tests.fuzz.calls import Caller, assert_precise, shown
from tests.fuzz.conftest import PROFILE
from tests.fuzz.rpcs import ALL_RPCS, Rpc
from tests.fuzz.strategies import LIMITS, NAMES, messages
from tests.support.daemon import TEST_NAMESPACES

FUZZ_TYPE: Final = "Fuzzed.test.cosi.dev"
SPEC_KINDS: Final = [
    *(api.specs for api in TYPED_APIS),
    *(Kind(str(ns["name"]), FUZZ_TYPE) for ns in TEST_NAMESPACES if ns["open"]),
]
"""Where refused requests are aimed, and what is compared: every typed spec kind and a type of
the fuzz's own in each open test namespace."""
MUTATING: Final = frozenset(
    {"Create", "Update", "Destroy", "Teardown", "TeardownAndDestroy", "Apply", "Delete"}
)
BAD_IDS: Final = st.one_of(
    st.builds(lambda name: name + "\x00", st.sampled_from(NAMES)),
    st.builds(lambda name: name * (LIMITS.max_id_length + 1), st.sampled_from(NAMES)),
)
"""An id no resource can have: with a NUL, or longer than the limit."""

Snapshot = dict[str, list[tuple[str, str, dict[str, str], dict[str, str], bytes, str]]]


def poison(request: Message, kind: Kind, bad_id: str, position: int) -> Message:
    """The request aimed at `kind` (where it names one) with `bad_id` as the resource's id; an
    Apply gets one more item with it, so the whole batch must be refused."""
    fields = request.DESCRIPTOR.fields_by_name
    target: Any = request  # the fields are found by name: every RPC's request is different
    if "items" in fields:
        items = target.items
        poisoned = items.add()
        poisoned.metadata.id = bad_id
        moved = list(items)
        moved.insert(min(position, len(moved) - 1), moved.pop())
        del items[:]
        items.extend(moved)
        return request
    for name in ("resource", "new_resource"):
        if name in fields:
            target = getattr(request, name).metadata
    if "namespace" in target.DESCRIPTOR.fields_by_name:
        target.namespace = kind.namespace
        target.type = kind.type
    target.id = bad_id
    return request


def refused_requests(rpc: Rpc) -> st.SearchStrategy[Message]:
    return st.builds(
        poison, messages(rpc.request), st.sampled_from(SPEC_KINDS), BAD_IDS, st.integers(0, 4)
    )


def snapshot(caller: Caller) -> Snapshot:
    """What clients write of every spec (ids, owners, labels, annotations, specs): controllers
    may still add finalizers or move phases on specs applied by earlier fuzz tests."""

    async def read(kind: Kind) -> list[tuple[str, str, dict[str, str], dict[str, str], bytes, str]]:
        stub = state_pb2_grpc.StateStub(caller.channel)
        request = state_pb2.ListRequest(namespace=kind.namespace, type=kind.type)
        found = []
        async for reply in stub.List(request, timeout=5):
            meta, spec = reply.resource.metadata, reply.resource.spec
            labels, annotations = dict(meta.labels), dict(meta.annotations)
            found.append(
                (meta.id, meta.owner, labels, annotations, spec.proto_spec, spec.yaml_spec)
            )
        return sorted(found, key=lambda entry: entry[0])

    return {str(kind): caller.loop.run_until_complete(read(kind)) for kind in SPEC_KINDS}


def seed(caller: Caller) -> None:
    """One resource of the fuzz's type, so refused Updates have something to miss."""
    stub = state_pb2_grpc.StateStub(caller.channel)
    resource = state_pb2.CreateRequest()
    resource.resource.metadata.namespace, resource.resource.metadata.type = "default", FUZZ_TYPE
    resource.resource.metadata.id = "seed"
    resource.resource.spec.yaml_spec = "seed: true\n"
    try:
        caller.loop.run_until_complete(stub.Create(resource, timeout=5))
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise


@pytest.mark.parametrize(
    "rpc", [rpc for rpc in ALL_RPCS if rpc.method.name in MUTATING], ids=lambda rpc: rpc.name
)
def test_refused_requests_change_nothing(caller: Caller, rpc: Rpc) -> None:
    seed(caller)
    before = snapshot(caller)

    @settings(settings.get_profile(PROFILE))
    @given(request=refused_requests(rpc))
    def send_refused(request: Message) -> None:
        answer = caller.send(rpc, request.SerializeToString())
        assert_precise(rpc, answer, request)
        assert answer.code != grpc.StatusCode.OK, f"{rpc.name} accepted {shown(request)}"

    send_refused()
    assert snapshot(caller) == before
