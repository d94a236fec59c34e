"""What the typed client puts on the wire, seen through grpcio-testing's fake channel (as in
test_client_requests): the method of the domain's own service, and the options it sends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import grpc_testing
import pytest
from google.protobuf.message import Message

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.api.cosi.sysctl.v1alpha1 import sysctl_pb2
from cosid.client import TypedClient
from cosid.resources import sysctl

pytestmark = pytest.mark.timeout(10)

SERVICE = sysctl.API.service
ITEM = sysctl_pb2.Sysctl(spec=sysctl_pb2.SysctlSpec(key="net.ipv4.ip_forward", value="1"))


@pytest.fixture
def channel() -> Any:
    return grpc_testing.channel([SERVICE], grpc_testing.strict_real_time())


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as executor:
        yield executor


def exchange(
    channel: Any,
    pool: ThreadPoolExecutor,
    method: str,
    call: Callable[[TypedClient], object],
    response: Message,
) -> tuple[Message, object]:
    """Run `call` on a client of the fake channel, answer its one RPC: (request, result)."""
    outcome = pool.submit(call, TypedClient(channel))
    _, request, rpc = channel.take_unary_unary(SERVICE.methods_by_name[method])
    rpc.terminate(response, (), grpc.StatusCode.OK, "")
    return request, outcome.result()


def test_apply_sends_the_items_and_returns_the_response(
    channel: Any, pool: ThreadPoolExecutor
) -> None:
    answer = sysctl_pb2.ApplyResponse(items=[ITEM])
    request, result = exchange(
        channel, pool, "Apply", lambda typed: typed.apply(sysctl.API, [ITEM]), answer
    )
    assert request == sysctl_pb2.ApplyRequest(items=[ITEM], options=common_pb2.ApplyOptions())
    assert result == answer


def test_apply_asks_for_a_dry_run_or_a_wait(channel: Any, pool: ThreadPoolExecutor) -> None:
    dry_run, _ = exchange(
        channel,
        pool,
        "Apply",
        lambda typed: typed.apply(sysctl.API, [ITEM], dry_run=True),
        sysctl_pb2.ApplyResponse(),
    )
    assert dry_run.options == common_pb2.ApplyOptions(dry_run=True)  # type: ignore[attr-defined]

    wait, _ = exchange(
        channel,
        pool,
        "Apply",
        lambda typed: typed.apply(sysctl.API, [ITEM], wait=2.5),
        sysctl_pb2.ApplyResponse(),
    )
    options: common_pb2.ApplyOptions = wait.options  # type: ignore[attr-defined]
    assert options.wait
    assert options.wait_timeout.ToMilliseconds() == 2500


def test_get_and_delete_name_the_id(channel: Any, pool: ThreadPoolExecutor) -> None:
    got, result = exchange(
        channel, pool, "Get", lambda typed: typed.get(sysctl.API, "net.ipv4.ip_forward"), ITEM
    )
    assert (got, result) == (common_pb2.GetRequest(id="net.ipv4.ip_forward"), ITEM)

    deleted, _ = exchange(
        channel,
        pool,
        "Delete",
        lambda typed: typed.delete(sysctl.API, "net.ipv4.ip_forward"),
        common_pb2.DeleteResponse(),
    )
    assert deleted == common_pb2.DeleteRequest(id="net.ipv4.ip_forward")
