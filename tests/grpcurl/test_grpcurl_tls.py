"""grpcurl with client certificates (`-cacert -cert -key`) against a TCP listener with mutual
TLS, as an operator reaches a node over the network: the certificate's role decides what it
may do, and grpcurl without a certificate is refused by the handshake."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cosid.server.roles import Role
from tests.grpcurl.tool import (
    CALL_SECONDS,
    GRPC_STATUS_EXIT_BASE,
    HEALTH,
    STATE,
    Grpcurl,
    parse_messages,
    resource_json,
)
from tests.support.daemon import running_daemon
from tests.support.forward import forwarded
from tests.support.tls import Pki, make_pki

pytestmark = pytest.mark.timeout(60)

TCP = "tcp://127.0.0.1:50051"
PERMISSION_DENIED = 7


@dataclass(frozen=True)
class TcpListener:
    grpcurl: Path
    address: str
    """host:port, forwarded to the sandboxed daemon's listener."""
    pki: Pki

    def grpcurl_as(self, role: Role) -> Grpcurl:
        return Grpcurl(self.grpcurl, self.address, self.pki.client(role.value))


@pytest.fixture(scope="module")
def listener(grpcurl: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpListener]:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    config = {"listen": TCP, "role": "admin", "tls": pki.listener_tls()}
    with running_daemon(sandbox=True, listeners=[config]) as daemon, forwarded(daemon, TCP) as port:
        yield TcpListener(grpcurl, f"127.0.0.1:{port}", pki)


def test_reflection_and_health_work_with_a_client_certificate(listener: TcpListener) -> None:
    reader = listener.grpcurl_as(Role.READER)
    assert STATE in reader.ok("list").split()
    assert parse_messages(reader.ok(f"{HEALTH}/Check")) == [{"status": "SERVING"}]


def test_the_certificates_role_decides_what_it_may_change(listener: TcpListener) -> None:
    request = {"resource": resource_json("Notes.example.com", "over-tls")}
    [created] = listener.grpcurl_as(Role.OPERATOR).call("Create", request)
    assert created["resource"]["metadata"]["version"] == "1"

    refused = listener.grpcurl_as(Role.READER).run(f"{STATE}/Create", flags=["-d", "{}"])
    assert refused.returncode == GRPC_STATUS_EXIT_BASE + PERMISSION_DENIED, refused.stderr
    assert "the caller's role is reader; Create needs operator" in refused.stderr


@pytest.mark.parametrize(
    "transport",
    [["-plaintext"], ["-cacert", "CA"]],
    ids=["plaintext", "without-a-client-certificate"],
)
def test_grpcurl_without_a_certificate_is_refused(
    listener: TcpListener, transport: list[str]
) -> None:
    ca = str(listener.pki.client(Role.ADMIN.value).ca)
    command = [
        str(listener.grpcurl),
        *(ca if flag == "CA" else flag for flag in transport),
        *("-connect-timeout", "1", "-max-time", str(CALL_SECONDS)),  # plaintext: waits it out
        listener.address,
        "list",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=CALL_SECONDS + 5, check=False
    )
    assert done.returncode != 0
    assert "Failed to dial target host" in done.stderr, done.stderr
