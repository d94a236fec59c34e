"""Bugs the fuzz found, one plain request each, kept as regression tests: out-of-range
Timestamps in metadata were answered INTERNAL, and an out-of-range `wait_timeout` was
answered INTERNAL after the items had been stored."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.api.cosi.resource import resource_pb2, state_pb2
from cosid.resources import motd
from tests.fuzz.calls import Caller, assert_precise
from tests.fuzz.rpcs import STATE, Rpc

OUT_OF_RANGE = -(2**63)
"""Seconds no Timestamp or Duration may have (both stop at about ten thousand years)."""


def state_resource(id: str, **timestamps: Timestamp) -> resource_pb2.Resource:
    metadata = resource_pb2.Metadata(namespace="default", type="Bug.test.cosi.dev", id=id)
    for name, value in timestamps.items():
        getattr(metadata, name).CopyFrom(value)
    return resource_pb2.Resource(metadata=metadata)


def timestamp_requests() -> list[tuple[Rpc, Message]]:
    bad = Timestamp(seconds=OUT_OF_RANGE)
    return [
        (
            Rpc(STATE, STATE.methods_by_name["Create"]),
            state_pb2.CreateRequest(resource=state_resource(id="bug-created", created=bad)),
        ),
        (
            Rpc(STATE, STATE.methods_by_name["Update"]),
            state_pb2.UpdateRequest(new_resource=state_resource(id="bug-updated", updated=bad)),
        ),
    ]


@pytest.mark.parametrize(("rpc", "request_"), timestamp_requests(), ids=["Create", "Update"])
def test_an_out_of_range_timestamp_is_invalid_argument(
    caller: Caller, rpc: Rpc, request_: Message
) -> None:
    assert_precise(rpc, caller.send(rpc, request_.SerializeToString()), request_)


def test_an_out_of_range_wait_timeout_is_refused_before_anything_is_stored(caller: Caller) -> None:
    rpc = Rpc(motd.API.service, motd.API.service.methods_by_name["Apply"])
    item = motd.API.resource(spec=motd.API.spec_message_class(text="from the known-bug test"))
    options = common_pb2.ApplyOptions(wait=True, wait_timeout=Duration(seconds=OUT_OF_RANGE))
    request = motd.API.request_message("Apply")(items=[item], options=options)
    answer = caller.send(rpc, request.SerializeToString())
    assert_precise(rpc, answer, request)
    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
