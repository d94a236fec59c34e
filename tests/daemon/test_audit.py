"""The audit line of a call refused for its role names the resource the request asked for,
though no handler ran to bind it: for State and typed requests alike, a batch with its ids."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.api.cosi.resource import state_pb2, state_pb2_grpc
from cosid.resources import motd, sysctl
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub
from tests.support.wire import NS, make_resource, rpc_error

TYPE = "Audits.test.cosi.dev"
SYSCTL_SPECS = str(sysctl.SPECS)

Call = Callable[[grpc.aio.Channel], Awaitable[object]]
"""Makes one RPC on a channel."""


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    directory = Path(tempfile.mkdtemp(prefix="cosid-audit-"))
    try:
        with running_daemon(
            sandbox=True,
            resync_seconds=None,
            listeners=[{"listen": f"unix://{directory}/reader.sock", "role": "reader"}],
            audit_log=str(directory / "audit.log"),
        ) as started:
            yield started
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def denials(daemon: Daemon) -> list[dict[str, Any]]:
    lines = Path(daemon.config["audit_log"]).read_text().splitlines()
    return [record for line in lines if (record := json.loads(line))["code"] == "PERMISSION_DENIED"]


async def denied(daemon: Daemon, call: Call) -> dict[str, Any]:
    """Make a call on the reader socket that its role refuses; its audit line, waited for (it
    is written as the call ends, which may be just after the client has its answer)."""
    before = len(denials(daemon))
    async with grpc.aio.insecure_channel(reader_endpoint(daemon)) as channel:
        error = await rpc_error(call(channel))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    for _ in range(100):
        lines = denials(daemon)
        if len(lines) > before:
            return lines[-1]
        await asyncio.sleep(0.02)
    pytest.fail("the denied call wrote no audit line")


def reader_endpoint(daemon: Daemon) -> str:
    return str(daemon.config["listeners"][0]["listen"])


def state(method: str, request: object) -> Call:
    return lambda channel: getattr(state_pb2_grpc.StateStub(channel), method)(request)


def typed(api: Any, method: str, request: Callable[[TypedStub], Any]) -> Call:
    def call(channel: grpc.aio.Channel) -> Awaitable[object]:
        stub = TypedStub(channel, api)
        return stub.unary(method, request(stub))

    return call


def sysctl_apply(stub: TypedStub) -> Any:
    items = [
        stub.item({"key": "net.ipv4.tcp_fin_timeout", "value": "30"}),
        stub.item({"key": "net.ipv4.tcp_retries1", "value": "3"}, id="net.ipv4.tcp_retries1"),
        stub.item({"key": "not a key", "value": "1"}),  # invalid: no id to name
    ]
    return sysctl.API.request_message("Apply")(items=items)


DENIED: dict[str, tuple[Call, dict[str, object]]] = {
    "State.Create": (
        state("Create", state_pb2.CreateRequest(resource=make_resource("made", TYPE))),
        {"resource": f"{NS}/{TYPE}/made"},
    ),
    "State.Update": (
        state("Update", state_pb2.UpdateRequest(new_resource=make_resource("changed", TYPE))),
        {"resource": f"{NS}/{TYPE}/changed"},
    ),
    "State.Destroy": (
        state("Destroy", state_pb2.DestroyRequest(namespace=NS, type=TYPE, id="gone")),
        {"resource": f"{NS}/{TYPE}/gone"},
    ),
    "Sysctl.Delete": (
        typed(sysctl.API, "Delete", lambda _: common_pb2.DeleteRequest(id="net.core.somaxconn")),
        {"resource": f"{SYSCTL_SPECS}/net.core.somaxconn"},
    ),
    "Sysctl.Apply": (
        typed(sysctl.API, "Apply", sysctl_apply),
        {
            "resource": SYSCTL_SPECS,
            "ids": ["net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_retries1"],
        },
    ),
    "Motd.Apply": (
        typed(
            motd.API,
            "Apply",
            lambda stub: motd.API.request_message("Apply")(items=[stub.item({"text": "hi\n"})]),
        ),
        {"resource": str(motd.SPECS), "ids": [motd.MOTD_ID]},
    ),
}


@pytest.mark.parametrize("rpc", list(DENIED))
async def test_a_denied_call_is_audited_with_the_resource_it_asked_for(
    daemon: Daemon, rpc: str
) -> None:
    call, key = DENIED[rpc]

    line = await denied(daemon, call)

    assert line.items() >= key.items()
    assert (line["role"], line["listener"]) == ("reader", reader_endpoint(daemon))
    assert line["rpc"] == rpc.split(".")[1]


async def test_an_undecodable_denied_request_is_audited_without_a_key(daemon: Daemon) -> None:
    def undecodable_create(channel: grpc.aio.Channel) -> Awaitable[object]:
        create = channel.unary_unary(
            "/cosi.resource.State/Create",
            request_serializer=bytes,
            response_deserializer=state_pb2.CreateResponse.FromString,
        )
        return create(b"\xff\xff")

    line = await denied(daemon, undecodable_create)

    assert line["rpc"] == "Create"
    assert "resource" not in line
