"""Hostname and MOTD end to end: the real daemon in --sandbox, specs through the State service,
the result checked from outside: `hostname` inside the daemon's UTS namespace and the files
under its private root.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import grpc
import pytest

from tests.support import specs
from tests.support.daemon import Daemon
from tests.support.wire import field_violations

HOSTNAME_NS, HOSTNAMES = "hostname", "HostnameSpecs.hostname.cosi.dev"
MOTD_NS, MOTDS = "motd", "MotdSpecs.motd.cosi.dev"


def daemon_hostname(daemon: Daemon) -> str:
    assert daemon.process is not None
    return subprocess.run(
        ["nsenter", "-t", str(daemon.process.pid), "-u", "hostname"],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()


def etc(daemon: Daemon) -> Path:
    return Path(daemon.config["state_dir"]) / "sandbox-root" / "etc"


async def test_the_hostname_is_set_drift_repaired_and_restored(sandboxed: Daemon) -> None:
    host = socket.gethostname()
    before = daemon_hostname(sandboxed)

    await specs.apply(sandboxed, HOSTNAME_NS, HOSTNAMES, "hostname", {"hostname": "node-1"})

    async def named() -> bool:
        found = await specs.condition(sandboxed, "hostname", HOSTNAMES, "hostname")
        return found is not None and found["ready"] is True

    await specs.until(named)
    assert daemon_hostname(sandboxed) == "node-1"
    assert (etc(sandboxed) / "hostname").read_text() == "node-1\n"
    assert socket.gethostname() == host

    (etc(sandboxed) / "hostname").write_text("someone-else\n")  # behind cosid's back

    async def file_repaired() -> bool:
        return (etc(sandboxed) / "hostname").read_text() == "node-1\n"

    await specs.until(file_repaired)

    await specs.delete(sandboxed, HOSTNAME_NS, HOSTNAMES, "hostname")
    assert daemon_hostname(sandboxed) == before
    assert not (etc(sandboxed) / "hostname").exists(), "there was no file before"


async def test_the_motd_is_written_and_its_original_restored(sandboxed: Daemon) -> None:
    motd = etc(sandboxed) / "motd"
    motd.write_text("the distribution's greeting\n")

    await specs.apply(sandboxed, MOTD_NS, MOTDS, "motd", {"text": "Welcome to node-1"})

    async def written() -> bool:
        found = await specs.condition(sandboxed, "motd", MOTDS, "motd")
        return found is not None and found["ready"] is True

    await specs.until(written)
    assert motd.read_text() == "Welcome to node-1\n"

    await specs.delete(sandboxed, MOTD_NS, MOTDS, "motd")
    assert motd.read_text() == "the distribution's greeting\n"


async def test_a_second_hostname_spec_is_refused_at_the_edge(sandboxed: Daemon) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await specs.apply(sandboxed, HOSTNAME_NS, HOSTNAMES, "other", {"hostname": "node-2"})

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == {
        "resource.metadata.id": "must be 'hostname', as the spec says"
    }
    assert await specs.condition(sandboxed, "hostname", HOSTNAMES, "other") is None
