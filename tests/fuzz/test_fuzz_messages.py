"""Well-typed garbage for every RPC: messages built from the request's descriptor with every
field wrong in its own way. Each is answered in time with a code the RPC may give."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.calls import Caller, assert_precise
from tests.fuzz.conftest import PROFILE
from tests.fuzz.rpcs import ALL_RPCS, Rpc
from tests.fuzz.strategies import messages


@pytest.mark.parametrize("rpc", ALL_RPCS, ids=lambda rpc: rpc.name)
@settings(settings.get_profile(PROFILE))
@given(data=st.data())
def test_garbage_fields_are_refused_precisely(
    caller: Caller, rpc: Rpc, data: st.DataObject
) -> None:
    request: Message = data.draw(messages(rpc.request), label="request")
    assert_precise(rpc, caller.send(rpc, request.SerializeToString()), request)
