"""Access control through the real sockets: one daemon with a reader, an operator and an admin
socket, and TCP listeners with mutual TLS (roles from client certificates made by `cosictl
gen`); each role against a representative RPC of each service on both, the sockets' modes and
group, the clients TCP refuses, and the audit lines of a change and of a denial."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import re
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
from tests.cli.process import cosictl
from tests.support.daemon import Daemon, running_daemon
from tests.support.forward import forwarded
from tests.support.tls import NO_ROLE, OTHER_CA_ADMIN, SEVERAL_ROLES, Pki, make_pki
from tests.support.typed import TypedStub
from tests.support.wire import NS, make_resource

TYPE = "Roles.test.cosi.dev"
MODES = {Role.READER: 0o666, Role.OPERATOR: 0o660, Role.ADMIN: 0o600}
GROUP = next(g.gr_name for g in grp.getgrall() if g.gr_gid != os.getgid())
"""A group the daemon is not in, so the operator socket's group shows the chgrp."""
TCP = "tcp://127.0.0.1:50051"
"""Any certificate's role, up to admin (in the sandbox's network namespace: always free)."""
TCP_READER = "tcp://127.0.0.1:50052"
"""Reader at most, whatever the certificate says."""
KINDS = ("unix", "tcp")


@dataclass
class Sockets:
    daemon: Daemon
    directory: Path
    pki: Pki
    ports: dict[str, int]
    """The forwarded port of each TCP listener, in this process's network namespace."""

    def path(self, role: Role) -> Path:
        return self.daemon.socket if role is Role.ADMIN else self.directory / f"{role.value}.sock"

    def address(self, kind: str, role: Role) -> str:
        """The listener of a channel from `channel(kind, role)`, as audit lines name it."""
        return f"unix://{self.path(role)}" if kind == "unix" else TCP

    def channel(self, kind: str, role: Role) -> grpc.aio.Channel:
        """A channel with `role`: to its socket, or to the TCP listener with its certificate."""
        if kind == "unix":
            return grpc.aio.insecure_channel(f"unix://{self.path(role)}")
        return self.tcp_channel(role.value)

    def tcp_channel(self, certificate: str, listener: str = TCP) -> grpc.aio.Channel:
        port = self.ports[listener]
        return grpc.aio.secure_channel(f"127.0.0.1:{port}", self.pki.credentials(certificate))

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
    pki = make_pki(directory / "pki")
    listeners = [
        {"listen": f"unix://{directory}/reader.sock", "role": "reader", "mode": 0o666},
        {
            "listen": f"unix://{directory}/operator.sock",
            "role": "operator",
            "mode": 0o660,
            "group": GROUP,
        },
        {"listen": TCP, "role": "admin", "tls": pki.listener_tls()},
        {"listen": TCP_READER, "role": "reader", "tls": pki.listener_tls()},
    ]
    try:
        with (
            running_daemon(
                sandbox=True,
                socket_mode=MODES[Role.ADMIN],
                listeners=listeners,
                audit_log=str(directory / "audit.log"),
            ) as daemon,
            forwarded(daemon, TCP) as port,
            forwarded(daemon, TCP_READER) as reader_port,
        ):
            yield Sockets(daemon, directory, pki, {TCP: port, TCP_READER: reader_port})
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


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
@pytest.mark.parametrize("rpc", list(CALLS))
async def test_each_role_may_call_what_it_needs_and_nothing_more(
    sockets: Sockets, rpc: str, role: Role, kind: str
) -> None:
    call, needed = CALLS[rpc]
    name = f"{rpc}-{role.value}-{kind}"
    async with sockets.channel(kind, role) as channel:
        if needed <= role:
            await call(channel, name)
            return
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(channel, name)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        method = rpc.rpartition(".")[2]
        assert refused.value.details() == (
            f"the caller's role is {role.value}; {method} needs {needed.value}"
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


@pytest.mark.parametrize("kind", KINDS)
async def test_a_change_and_a_denial_are_audited(sockets: Sockets, kind: str) -> None:
    async with sockets.channel(kind, Role.OPERATOR) as channel:
        await state_create(channel, f"audited-{kind}")
    async with sockets.channel(kind, Role.READER) as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await state_create(channel, f"refused-{kind}")

    change = await sockets.audited(resource=f"{NS}/{TYPE}/audited-{kind}")
    assert (
        change.items()
        >= {
            "event": "request",
            "logger": "cosid.audit",
            "level": "info",
            "service": "cosi.resource.State",
            "rpc": "Create",
            "role": "operator",
            "listener": sockets.address(kind, Role.OPERATOR),
            "new_version": 1,
            "code": "OK",
        }.items()
    )
    denial = await sockets.audited(
        rpc="Create",
        code="PERMISSION_DENIED",
        role="reader",
        listener=sockets.address(kind, Role.READER),
    )
    if kind == "unix":
        assert change["peer"] == denial["peer"] == "unix:"
    else:  # the address, and who it is by the certificate
        assert re.fullmatch(r"ipv4:127\.0\.0\.1:\d+ CN=operator", change["peer"])
        assert re.fullmatch(r"ipv4:127\.0\.0\.1:\d+ CN=reader", denial["peer"])
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


# --- TCP: the clients the handshake refuses, and roles from certificates -------------------------


async def assert_refused_at_handshake(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await health(channel, "")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_plain_client_is_refused(sockets: Sockets) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{sockets.ports[TCP]}") as channel:
        await assert_refused_at_handshake(channel)


async def test_a_client_without_a_certificate_is_refused(sockets: Sockets) -> None:
    target = f"127.0.0.1:{sockets.ports[TCP]}"
    credentials = sockets.pki.server_only_credentials()
    async with grpc.aio.secure_channel(target, credentials) as channel:
        await assert_refused_at_handshake(channel)


async def test_a_certificate_of_another_ca_is_refused(sockets: Sockets) -> None:
    async with sockets.tcp_channel(OTHER_CA_ADMIN) as channel:
        await assert_refused_at_handshake(channel)


async def test_a_certificate_naming_no_role_may_call_nothing(sockets: Sockets) -> None:
    async with sockets.tcp_channel(NO_ROLE) as channel:
        for call in (health, state_get, reflection):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(channel, "no-role")
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "names no role" in (refused.value.details() or "")

    line = await sockets.audited(rpc="Check", code="PERMISSION_DENIED", role=None)
    assert line["listener"] == TCP
    assert line["peer"].endswith(f" CN={NO_ROLE}")


async def test_the_highest_of_several_roles_counts(sockets: Sockets) -> None:
    async with sockets.tcp_channel(SEVERAL_ROLES) as channel:
        await state_create(channel, "several-roles")


async def test_a_listener_caps_the_role_of_every_certificate(sockets: Sockets) -> None:
    async with sockets.tcp_channel(Role.ADMIN.value, TCP_READER) as channel:
        await state_get(channel, "capped")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await state_create(channel, "capped")
    assert refused.value.details() == "the caller's role is reader; Create needs operator"


def test_cosictl_reaches_tcp_with_its_certificate(sockets: Sockets) -> None:
    endpoint = f"tcp://127.0.0.1:{sockets.ports[TCP]}"
    operator = sockets.pki.client(Role.OPERATOR.value)
    flags = ["--cert", str(operator.cert), "--key", str(operator.key), "--ca", str(operator.ca)]
    listed = cosictl("--endpoint", endpoint, *flags, "get", "namespaces")
    assert listed.returncode == 0, listed.stderr
    assert NS in listed.stdout

    unauthenticated = cosictl("--endpoint", endpoint, "get", "namespaces")
    assert unauthenticated.returncode == 1
    assert "mutual TLS: give --cert, --key and --ca" in unauthenticated.stderr
