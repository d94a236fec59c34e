"""sysctl end to end: the real daemon in --sandbox, specs through the State service, the
kernel checked from outside with the real `sysctl` binary inside the daemon's network namespace.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import pytest
import yaml

from cosid.api.cosi.resource import resource_pb2, state_pb2
from tests.support.daemon import Daemon, running_daemon
from tests.support.wire import connect, create, make_resource

SPECS_NS, SPECS = "sysctl", "SysctlSpecs.sysctl.cosi.dev"
CONDITIONS_NS, CONDITIONS = "runtime", "Conditions.runtime.cosi.dev"
FORWARD = "net.ipv4.ip_forward"


@pytest.fixture
def sandboxed() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=0.2) as started:
        yield started


def in_daemon_netns(daemon: Daemon, *command: str) -> str:
    assert daemon.process is not None
    return subprocess.run(
        ["nsenter", "-t", str(daemon.process.pid), "-n", *command],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()


def kernel_value(daemon: Daemon, key: str) -> str:
    return in_daemon_netns(daemon, "sysctl", "-n", key)


def host_value(key: str) -> str:
    return Path("/proc/sys", key.replace(".", "/")).read_text().strip()


def sysctl_spec(key: str, value: str) -> resource_pb2.Resource:
    return make_resource(
        key, SPECS, ns=SPECS_NS, yaml_spec=yaml.safe_dump({"key": key, "value": value})
    )


async def condition(daemon: Daemon, key: str) -> dict[str, object] | None:
    async with connect(daemon.endpoint) as stub:
        request = state_pb2.GetRequest(
            namespace=CONDITIONS_NS, type=CONDITIONS, id=f"sysctl/{SPECS}/{key}"
        )
        try:
            reply = await stub.Get(request, timeout=5)
        except grpc.aio.AioRpcError:
            return None
        loaded: dict[str, object] = yaml.safe_load(reply.resource.spec.yaml_spec)
        return loaded


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll: the kernel announces no sysctl changes, so checking from outside means looking."""

    async def poll() -> None:
        while not await check():  # noqa: ASYNC110 (nothing to wait on but time)
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), within)


async def apply(daemon: Daemon, key: str, value: str) -> None:
    async with connect(daemon.endpoint) as stub:
        await create(stub, sysctl_spec(key, value))


async def delete(daemon: Daemon, key: str) -> None:
    async with connect(daemon.endpoint) as stub:
        await stub.TeardownAndDestroy(
            state_pb2.TeardownAndDestroyRequest(namespace=SPECS_NS, type=SPECS, id=key), timeout=10
        )


async def test_a_spec_is_applied_in_the_daemons_namespace_only(sandboxed: Daemon) -> None:
    host_before = host_value(FORWARD)
    original = kernel_value(sandboxed, FORWARD)
    wanted = "0" if original == "1" else "1"

    await apply(sandboxed, FORWARD, wanted)

    async def applied() -> bool:
        return kernel_value(sandboxed, FORWARD) == wanted

    await until(applied)
    found = await condition(sandboxed, FORWARD)
    assert found is not None
    assert found["ready"] is True
    assert host_value(FORWARD) == host_before


async def test_drift_is_repaired_and_delete_restores_the_original(sandboxed: Daemon) -> None:
    await apply(sandboxed, "net.core.somaxconn", "1234")

    async def applied() -> bool:
        return kernel_value(sandboxed, "net.core.somaxconn") == "1234"

    await until(applied)
    in_daemon_netns(sandboxed, "sysctl", "-w", "net.core.somaxconn=77")  # behind cosid's back
    await until(applied)
    assert any(record.get("event") == "repaired drift" for record in sandboxed.log_records())

    await delete(sandboxed, "net.core.somaxconn")
    assert kernel_value(sandboxed, "net.core.somaxconn") == "4096"


async def test_a_host_sysctl_is_refused_in_the_sandbox_with_the_reason(sandboxed: Daemon) -> None:
    host_before = host_value("kernel.pid_max")

    await apply(sandboxed, "kernel.pid_max", "99999")

    async def failed() -> bool:
        found = await condition(sandboxed, "kernel.pid_max")
        return found is not None and found["reason"] == "ReconcileFailed"

    await until(failed)
    found = await condition(sandboxed, "kernel.pid_max")
    assert found is not None
    assert "isolates only net.*" in str(found["message"])
    assert host_value("kernel.pid_max") == host_before


async def test_specs_are_reapplied_after_sigkill(sandboxed: Daemon) -> None:
    await apply(sandboxed, "net.ipv4.tcp_syn_retries", "3")

    async def applied() -> bool:
        return kernel_value(sandboxed, "net.ipv4.tcp_syn_retries") == "3"

    await until(applied)
    assert sandboxed.stop(signal.SIGKILL) == -signal.SIGKILL
    sandboxed.start()  # a new sandbox: a fresh network namespace with the kernel's defaults

    await until(applied)
