"""Socket activation end to end: the test binds the unix sockets itself, as systemd would, and
starts the real daemon with them as descriptors 3, 4, ... ($LISTEN_FDS, $LISTEN_PID,
$LISTEN_FDNAMES)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cosid.daemon.activation import inherited_sockets
from tests.support.daemon import Daemon, daemon_config
from tests.support.wire import connect, create, get, list_resources, make_resource, rpc_error

TYPE = "Activations.test.cosi.dev"
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
"""A client's connection preface and an empty SETTINGS frame (RFC 9113, 3.4)."""
SETTINGS_FRAME = 4

LAUNCHER = """
import os, sys
fds = [int(fd) for fd in sys.argv[1].split(",")]
assert min(fds) >= 3 + len(fds), "a passed descriptor would be overwritten"
for target, fd in enumerate(fds, 3):
    os.dup2(fd, target)
os.environ.update(
    LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=sys.argv[2]
)
os.execv(sys.argv[3], sys.argv[3:])
"""
"""What systemd does between fork and exec: the sockets moved to 3, 4, ... and the variables
naming them set, with this very process's pid."""


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cosid-"))  # short: sun_path holds 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def listening(path: Path) -> socket.socket:
    """A unix stream socket bound and listening at `path`, as a socket unit makes it."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(16)
    return server


def start_activated(daemon: Daemon, passed: dict[str, socket.socket]) -> None:
    """Start the daemon with `passed` (FileDescriptorName= -> socket) as systemd would."""
    config_path = daemon.workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(daemon.config))
    fds = ",".join(str(sock.fileno()) for sock in passed.values())
    command = (sys.executable, "-m", "cosid.daemon.main", "--config", str(config_path))
    with daemon.log_path.open("ab") as log:
        daemon.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, fds, ":".join(passed), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=[sock.fileno() for sock in passed.values()],
        )


async def relayed_round_trip(daemon: Daemon, resource_id: str) -> None:
    """A connection of its own: 256 KiB (several relay chunks) written and read back whole."""
    payload = secrets.token_bytes(1 << 18)
    async with connect(daemon.endpoint) as stub:
        await create(stub, make_resource(resource_id, TYPE, proto_spec=payload))
        assert (await get(stub, TYPE, resource_id)).spec.proto_spec == payload


async def test_a_connection_made_before_the_daemon_starts_is_served(workdir: Path) -> None:
    daemon = Daemon(workdir, daemon_config(workdir))
    with listening(daemon.socket) as admin, socket.socket(socket.AF_UNIX) as early:
        early.connect(str(daemon.socket))  # waits in the backlog: no process accepts yet
        early.sendall(HTTP2_PREFACE)
        try:
            start_activated(daemon, {"admin": admin})
            early.settimeout(20)
            header = early.recv(9, socket.MSG_WAITALL)

            assert header[3] == SETTINGS_FRAME, "gRPC's server answered the early client"
            daemon.wait_serving()
            await asyncio.gather(*(relayed_round_trip(daemon, f"r{n}") for n in range(8)))
            assert daemon.stop() == 0
        finally:
            daemon.stop()

        assert daemon.socket.is_socket(), "the socket unit's file is not the daemon's to remove"
        with socket.socket(socket.AF_UNIX) as late:
            late.connect(str(daemon.socket))  # still listening: waits for the next start
        assert sorted(path.name for path in workdir.iterdir()) == [
            "config.yaml",
            "cosid.log",
            "cosid.sock",
            "state",
        ], "the private relay socket and its directory are gone"


async def test_an_activated_socket_serves_with_its_listeners_role(workdir: Path) -> None:
    reader_path = workdir / "reader.sock"
    reader_address = f"unix://{reader_path}"
    listeners = [{"listen": reader_address, "role": "reader"}]
    daemon = Daemon(workdir, daemon_config(workdir, listeners=listeners))
    with listening(reader_path) as reader:
        try:
            start_activated(daemon, {"reader": reader})
            daemon.wait_serving()  # on the admin socket, which the daemon bound itself
            async with connect(reader_address) as stub:
                refused = await rpc_error(create(stub, make_resource("a", TYPE)))
                assert await list_resources(stub, TYPE) == []
            assert daemon.stop() == 0
        finally:
            daemon.stop()

        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "the caller's role is reader" in str(refused.details())
        assert reader_path.is_socket()
        assert not daemon.socket.exists(), "the daemon's own socket is removed as ever"
        records = daemon.log_records()
        activated = [r for r in records if r.get("event") == "socket activated"]
        assert [(r["path"], r["name"], r["role"]) for r in activated] == [
            (str(reader_path), "reader", "reader")
        ]
        audited = [r for r in records if r.get("rpc") == "Create"]
        assert [(r["listener"], r["role"], r["code"]) for r in audited] == [
            (reader_address, "reader", "PERMISSION_DENIED")
        ]


def test_a_passed_socket_the_configuration_does_not_list_stops_the_start(
    workdir: Path,
) -> None:
    stray = workdir / "stray.sock"
    daemon = Daemon(workdir, daemon_config(workdir))
    with listening(stray) as passed:
        start_activated(daemon, {"stray": passed})
        assert daemon.process is not None

        assert daemon.process.wait(timeout=20) != 0

    assert "systemd passed sockets the configuration does not list" in daemon.output()
    assert f"{stray} (stray)" in daemon.output()
    assert stray.is_socket()


def test_sockets_passed_to_another_process_are_not_taken() -> None:
    environment = {"LISTEN_PID": "1", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "admin"}

    assert inherited_sockets(environment) == []
    assert environment == {}, "the variables are not passed on, as sd_listen_fds(3) does"


@pytest.mark.skipif(shutil.which("systemd-socket-activate") is None, reason="no systemd tools")
def test_systemds_own_activator_starts_the_daemon_on_the_first_connection(workdir: Path) -> None:
    """systemd-socket-activate(1): systemd's implementation of the protocol, outside PID 1. It
    binds the socket, and execs the daemon (in its sandbox) once a client connects."""
    daemon = Daemon(workdir, daemon_config(workdir, sandbox=True))
    daemon.launcher = ("systemd-socket-activate", f"--listen={daemon.socket}", "--fdname=admin")
    try:
        daemon.start(wait=False)
        with grpc.insecure_channel(daemon.endpoint) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=20, wait_for_ready=True
            )

        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert "Communication attempt on fd 3" in daemon.output(), "the connection started it"
        activated = [r for r in daemon.log_records() if r.get("event") == "socket activated"]
        assert [(r["name"], r["role"]) for r in activated] == [("admin", "admin")]
        assert daemon.stop() == 0
    finally:
        daemon.stop()
