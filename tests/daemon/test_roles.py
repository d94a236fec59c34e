"""Access control through the real sockets: one daemon with a reader, an operator and an admin
socket; each role against a representative RPC of each service, the sockets' modes and group,
and the audit lines of a change and of a denial."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cosid.api.cosi.resource import state_pb2, state_pb2_grpc
from cosid.api.cosi.runtime.v1alpha1 import runtime_pb2, runtime_pb2_grpc
from cosid.resources import motd
from cosid.server.roles import Role
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub
from tests.support.wire import NS, make_resource

TYPE = "Roles.test.cosi.dev"
MODES = {Role.READER: 0o666, Role.OPERATOR: 0o660, Role.ADMIN: 0o600}
GROUP = next(g.gr_name for g in grp.getgrall() if g.gr_gid != os.getgid())
"""A group the daemon is not in, so the operator socket's group shows the chgrp."""


@dataclass
class Sockets:
    daemon: Daemon
    directory: Path

    def path(self, role: Role) -> Path:
        return self.daemon.socket if role is Role.ADMIN else self.directory / f"{role.value}.sock"

    @property
    def audit_log(self) -> Path:
        return self.directory / "audit.log"

    def audit_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit_log.read_text().splitlines()]

    async def audited(self, **fields: object) -> dict[str, Any]:
        """The last audit line with these fields, waited for: it is written as the call ends,
        which may be just after the client has its answer."""
        for _ in range(100):
            matching = [line for line in self.audit_lines() if fields.items() <= line.items()]
            if matching:
                return matching[-1]
            await asyncio.sleep(0.02)
        pytest.fail(f"no audit line with {fields}: {self.audit_lines()}")


@pytest.fixture(scope="module")
def sockets() -> Iterator[Sockets]:
    directory = Path(tempfile.mkdtemp(prefix="cosid-roles-"))
    listeners = [
        {"listen": f"unix://{directory}/reader.sock", "role": "reader", "mode": 0o666},
        {
            "listen": f"unix://{directory}/operator.sock",
            "role": "operator",
            "mode": 0o660,
            "group": GROUP,
        },
    ]
    try:
        with running_daemon(
            sandbox=True,
            socket_mode=MODES[Role.ADMIN],
            listeners=listeners,
            audit_log=str(directory / "audit.log"),
        ) as daemon:
            yield Sockets(daemon, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- Each role against a representative RPC of each service --------------------------------------

Call = Callable[[grpc.aio.Channel, str], Awaitable[None]]
"""Makes one RPC on a channel (with a name unique to the test case); raises on refusal."""
Unchanged = Callable[[grpc.aio.Channel, str], Awaitable[bool]]


async def state_get(channel: grpc.aio.Channel, name: str) -> None:
    request = state_pb2.GetRequest(namespace="meta", type="Namespaces.meta.cosi.dev", id=NS)
    await state_pb2_grpc.StateStub(channel).Get(request, timeout=5)


async def state_create(channel: grpc.aio.Channel, name: str) -> None:
    request = state_pb2.CreateRequest(resource=make_resource(name, TYPE))
    await state_pb2_grpc.StateStub(channel).Create(request, timeout=5)


async def state_absent(channel: grpc.aio.Channel, name: str) -> bool:
    request = state_pb2.GetRequest(namespace=NS, type=TYPE, id=name)
    try:
        await state_pb2_grpc.StateStub(channel).Get(request, timeout=5)
    except grpc.aio.AioRpcError as error:
        return error.code() == grpc.StatusCode.NOT_FOUND
    return False


async def motd_list(channel: grpc.aio.Channel, name: str) -> None:
    await TypedStub(channel, motd.API).list()


async def motd_apply(channel: grpc.aio.Channel, name: str) -> None:
    stub = TypedStub(channel, motd.API)
    await stub.apply(stub.item({"text": f"{name}\n"}), dry_run=True)


async def metrics(channel: grpc.aio.Channel, name: str) -> None:
    await runtime_pb2_grpc.RuntimeServiceStub(channel).Metrics(runtime_pb2.MetricsRequest())


async def refresh(channel: grpc.aio.Channel, name: str) -> None:
    await runtime_pb2_grpc.RuntimeServiceStub(channel).Refresh(runtime_pb2.RefreshRequest())


async def health(channel: grpc.aio.Channel, name: str) -> None:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def reflection(channel: grpc.aio.Channel, name: str) -> None:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    calls = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(iter([request]))
    async for reply in calls:
        assert reply.list_services_response.service


CALLS: dict[str, tuple[Call, Role]] = {
    "State.Get": (state_get, Role.READER),
    "State.Create": (state_create, Role.OPERATOR),
    "MotdService.List": (motd_list, Role.READER),
    "MotdService.Apply": (motd_apply, Role.OPERATOR),
    "RuntimeService.Metrics": (metrics, Role.READER),
    "RuntimeService.Refresh": (refresh, Role.OPERATOR),
    "Health.Check": (health, Role.READER),
    "ServerReflection.ServerReflectionInfo": (reflection, Role.READER),
}


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
@pytest.mark.parametrize("rpc", list(CALLS))
async def test_each_role_may_call_what_it_needs_and_nothing_more(
    sockets: Sockets, rpc: str, role: Role
) -> None:
    call, needed = CALLS[rpc]
    name = f"{rpc}-{role.value}"
    async with grpc.aio.insecure_channel(f"unix://{sockets.path(role)}") as channel:
        if needed <= role:
            await call(channel, name)
            return
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(channel, name)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        method = rpc.rpartition(".")[2]
        assert refused.value.details() == (
            f"this socket's role is {role.value}; {method} needs {needed.value}"
        )
        await health(channel, name)  # the daemon keeps serving
    async with grpc.aio.insecure_channel(sockets.daemon.endpoint) as admin:
        assert await state_absent(admin, name), "a refused Create stores nothing"
        assert not await TypedStub(admin, motd.API).list(), "a refused Apply stores nothing"


# --- Sockets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
def test_each_socket_has_its_mode_and_group(sockets: Sockets, role: Role) -> None:
    info = sockets.path(role).stat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == MODES[role]
    expected_gid = grp.getgrnam(GROUP).gr_gid if role is Role.OPERATOR else os.getgid()
    assert info.st_gid == expected_gid


# --- Audit log -----------------------------------------------------------------------------------


async def test_a_change_and_a_denial_are_audited(sockets: Sockets) -> None:
    async with grpc.aio.insecure_channel(f"unix://{sockets.path(Role.OPERATOR)}") as channel:
        await state_create(channel, "audited")
    async with grpc.aio.insecure_channel(f"unix://{sockets.path(Role.READER)}") as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await state_create(channel, "refused")

    change = await sockets.audited(resource=f"{NS}/{TYPE}/audited")
    assert (
        change.items()
        >= {
            "event": "request",
            "logger": "cosid.audit",
            "level": "info",
            "service": "cosi.resource.State",
            "rpc": "Create",
            "role": "operator",
            "listener": f"unix://{sockets.path(Role.OPERATOR)}",
            "new_version": 1,
            "code": "OK",
        }.items()
    )
    assert "peer" in change
    denial = await sockets.audited(rpc="Create", code="PERMISSION_DENIED", role="reader")
    assert denial["listener"] == f"unix://{sockets.path(Role.READER)}"
    assert not any(r.get("logger") == "cosid.audit" for r in sockets.daemon.log_records()), (
        "with audit_log set, audit lines go only there"
    )


async def test_reads_are_not_audited(sockets: Sockets) -> None:
    async with grpc.aio.insecure_channel(f"unix://{sockets.path(Role.READER)}") as channel:
        await state_get(channel, "read")
    assert not [line for line in sockets.audit_lines() if line["rpc"] == "Get"]


async def test_a_destroy_is_audited_with_the_version_it_removed(sockets: Sockets) -> None:
    async with grpc.aio.insecure_channel(f"unix://{sockets.path(Role.OPERATOR)}") as channel:
        await state_create(channel, "removed")
        request = state_pb2.DestroyRequest(namespace=NS, type=TYPE, id="removed")
        await state_pb2_grpc.StateStub(channel).Destroy(request, timeout=5)

    line = await sockets.audited(rpc="Destroy", resource=f"{NS}/{TYPE}/removed")
    assert (line["version"], line["code"]) == (1, "OK")
