"""Random bytes as the request of every RPC: mostly undecodable, sometimes a message by chance,
and once past the daemon's message size limit."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.calls import CALL_DEADLINE, Caller, assert_precise
from tests.fuzz.conftest import PROFILE
from tests.fuzz.rpcs import ALL_RPCS, Rpc
from tests.fuzz.strategies import LIMITS

TOO_LARGE = b"\x0a" * (LIMITS.max_message_bytes + 1)


@pytest.mark.parametrize("rpc", ALL_RPCS, ids=lambda rpc: rpc.name)
@settings(settings.get_profile(PROFILE))
@given(payload=st.binary(max_size=512))
@example(payload=b"\xff")  # a truncated varint tag
@example(payload=b"\x0a\xff\xff\xff\xff\x0f")  # field 1: a length far past the end
@example(payload=b"\x0a\x02\xc3\x28")  # field 1: bytes that are not UTF-8
def test_random_bytes_are_refused_precisely(caller: Caller, rpc: Rpc, payload: bytes) -> None:
    assert_precise(rpc, caller.send(rpc, payload), payload)


ONE_PER_KIND_OF_SERVICE = [
    rpc
    for rpc in ALL_RPCS
    if rpc.name in {"State.Create", "MotdService.Apply", "RuntimeService.Refresh"}
]
"""The limit is the gRPC server's, the same for every RPC: sending megabytes takes a second."""


@pytest.mark.parametrize("rpc", ONE_PER_KIND_OF_SERVICE, ids=lambda rpc: rpc.name)
def test_a_request_past_the_size_limit_is_resource_exhausted(caller: Caller, rpc: Rpc) -> None:
    """Watches included: sending megabytes takes longer than a refusal normally does."""
    answer = caller.send(rpc, TOO_LARGE, watch_open=CALL_DEADLINE)
    assert answer.code == grpc.StatusCode.RESOURCE_EXHAUSTED
