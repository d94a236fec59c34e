"""cosi.runtime.v1alpha1.RuntimeService and SIGHUP: counters per controller, and a resync on
demand. The daemon runs in --sandbox with no resync timer, so only a refresh finds drift in
/proc/sys (the kernel announces no sysctl change)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import grpc
import pytest

from cosid.api.cosi.runtime.v1alpha1 import runtime_pb2, runtime_pb2_grpc
from cosid.resources import sysctl
from tests.support import specs
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import in_daemon_namespaces, typed_stub
from tests.support.wire import field_violations, rpc_error

if TYPE_CHECKING:
    from cosid.api.cosi.runtime.v1alpha1.runtime_pb2_grpc import RuntimeServiceAsyncStub

KEY = "net.ipv4.tcp_keepalive_probes"
CONTROLLERS = [
    "addresses",
    "dns",
    "hostname",
    "link-resolvers",
    "links",
    "modules",
    "motd",
    "mounts",
    "routes",
    "sysctl",
]


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=None) as started:
        yield started


@pytest.fixture
async def runtime(daemon: Daemon) -> AsyncIterator[RuntimeServiceAsyncStub]:
    async with grpc.aio.insecure_channel(daemon.endpoint) as channel:
        yield runtime_pb2_grpc.RuntimeServiceStub(channel)


def kernel(daemon: Daemon) -> str:
    return in_daemon_namespaces(daemon, "-n", "sysctl", "-n", KEY)


def drift(daemon: Daemon) -> None:
    in_daemon_namespaces(daemon, "-n", "sysctl", "-q", "-w", f"{KEY}=3")


async def metrics(
    stub: RuntimeServiceAsyncStub,
) -> dict[str, runtime_pb2.ControllerMetrics]:
    reply = await stub.Metrics(runtime_pb2.MetricsRequest(), timeout=5)
    return {m.controller: m for m in reply.controllers}


async def repaired(daemon: Daemon) -> None:
    async def back() -> bool:
        return kernel(daemon) == "7"

    await specs.until(back)


async def test_refresh_and_sighup_find_drift_no_timer_would(
    daemon: Daemon, runtime: RuntimeServiceAsyncStub
) -> None:
    async with typed_stub(daemon, sysctl.API) as stub:
        await stub.apply(stub.item({"key": KEY, "value": "7"}), wait=True)
        before = (await metrics(runtime))["sysctl"]
        assert before.items == 1
        assert before.applied >= 1

        drift(daemon)
        await asyncio.sleep(0.5)
        assert kernel(daemon) == "3", "nothing re-checks /proc/sys without a resync"
        reply = await runtime.Refresh(runtime_pb2.RefreshRequest(controllers=["sysctl"]))
        assert list(reply.controllers) == ["sysctl"]
        await repaired(daemon)

        drift(daemon)
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)
        await repaired(daemon)

        after = (await metrics(runtime))["sysctl"]
        assert after.repairs == before.repairs + 2
        assert after.reconciles > before.reconciles
        assert after.seconds_total > 0
        await stub.delete(KEY)
    assert "refresh" in [r.get("event") for r in daemon.log_records()]


async def test_metrics_name_every_controller_and_observer(
    runtime: RuntimeServiceAsyncStub,
) -> None:
    reported = await metrics(runtime)
    assert sorted(reported) == sorted([*CONTROLLERS, "network-observer"])
    observer = reported["network-observer"]
    assert observer.reconciles >= 1, "its first observation, the whole namespace, is written"
    assert (observer.items, observer.restarts) == (0, 0)


async def test_refreshing_an_unknown_controller_names_it(
    runtime: RuntimeServiceAsyncStub,
) -> None:
    error = await rpc_error(
        runtime.Refresh(runtime_pb2.RefreshRequest(controllers=["sysctl", "networkd"]))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {
        "controllers[1]": f"no controller 'networkd' (known: {', '.join(CONTROLLERS)})"
    }
