"""cosi.network.v1alpha1.LinkService end to end: the real daemon in --sandbox (its own network
namespace), driven through its typed service with no resync; the links checked from outside
with `ip -j link` in the daemon's network namespace."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from cosid.resources import links
from tests.support import specs
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub, status_details, typed_stub
from tests.support.wire import rpc_error, status_code


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=None) as started:
        yield started


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, links.API) as opened:
        yield opened


def ip_links(daemon: Daemon) -> dict[str, dict[str, Any]]:
    """The daemon's network namespace's links, as `ip -j link` there shows them."""
    assert daemon.process is not None
    enter = ["nsenter", "-t", str(daemon.process.pid), "-n", "ip"]
    shown = subprocess.run([*enter, "-j", "link"], capture_output=True, text=True, check=True)
    return {link["ifname"]: link for link in json.loads(shown.stdout)}


def in_daemon(daemon: Daemon, *command: str) -> None:
    assert daemon.process is not None
    enter = ["nsenter", "-t", str(daemon.process.pid), "-n"]
    subprocess.run([*enter, *command], check=True, capture_output=True, timeout=10)


async def test_apply_with_wait_creates_and_delete_removes(daemon: Daemon, stub: TypedStub) -> None:
    bridge = stub.item({"name": "tbr0", "kind": "bridge", "up": True, "mtu": 1400})
    veth = stub.item(
        {"name": "tv0", "kind": "veth", "up": True, "master": "tbr0", "veth": {"peer": "tv1"}}
    )
    await stub.apply(bridge, wait=True)
    reply = await stub.apply(bridge, veth, wait=True)
    by_name = {item.spec.name: item for item in reply.items}
    assert by_name["tbr0"].status.kind == "bridge"
    assert by_name["tbr0"].status.mtu == 1400
    assert by_name["tv0"].status.master == "tbr0"
    shown = ip_links(daemon)
    assert shown["tv0"]["master"] == "tbr0"
    assert "UP" in shown["tbr0"]["flags"]
    await stub.delete("tv0")
    await stub.delete("tbr0")
    assert not {"tv0", "tv1", "tbr0"} & set(ip_links(daemon))
    assert await status_code(stub.get("tv0")) == grpc.StatusCode.NOT_FOUND


async def test_a_link_set_down_is_repaired_from_the_event(daemon: Daemon, stub: TypedStub) -> None:
    await stub.apply(stub.item({"name": "tbr1", "kind": "bridge", "up": True}), wait=True)
    in_daemon(daemon, "ip", "link", "set", "tbr1", "down")

    async def repaired() -> bool:
        return "UP" in ip_links(daemon)["tbr1"]["flags"]

    await specs.until(repaired)
    await stub.delete("tbr1")


async def test_a_kind_the_kernel_lacks_fails_the_wait_while_others_converge(
    daemon: Daemon, stub: TypedStub
) -> None:
    """This development kernel has no dummy driver (the VM's has)."""
    lacking = stub.item({"name": "td0", "kind": "dummy", "up": True})
    bridge = stub.item({"name": "tbr2", "kind": "bridge", "up": True})
    error = await rpc_error(stub.apply(lacking, bridge, wait=True))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    [response] = status_details(error, links.API.apply_response_message)
    [failed] = response.items
    assert (failed.metadata.id, failed.condition.reason) == ("td0", "KindNotSupported")
    assert "tbr2" in ip_links(daemon)
    assert "td0" not in ip_links(daemon)
    await stub.delete("td0")
    await stub.delete("tbr2")
