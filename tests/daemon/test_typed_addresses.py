"""cosi.network.v1alpha1.AddressService end to end: the real daemon in --sandbox (its own
network namespace), driven through its typed services with no resync; the addresses checked
from outside with `ip -j addr` in the daemon's network namespace."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from cosid.resources import addresses, links
from tests.support import specs
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub, typed_stub
from tests.support.wire import rpc_error


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=None) as started:
        yield started


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, addresses.API) as opened:
        yield opened


@pytest.fixture
async def link_stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, links.API) as opened:
        yield opened


def in_daemon(daemon: Daemon, *command: str) -> str:
    assert daemon.process is not None
    enter = ["nsenter", "-t", str(daemon.process.pid), "-n"]
    done = subprocess.run([*enter, *command], check=True, capture_output=True, text=True)
    return done.stdout


def ip_addresses(daemon: Daemon) -> set[str]:
    """Every ``<link>/<cidr>`` of the daemon's namespace, as `ip -j addr` there shows them."""
    shown = json.loads(in_daemon(daemon, "ip", "-j", "addr"))
    return {f"{i['ifname']}/{a['local']}/{a['prefixlen']}" for i in shown for a in i["addr_info"]}


async def test_an_address_converges_once_its_link_is_applied_and_delete_removes_it(
    daemon: Daemon, stub: TypedStub, link_stub: TypedStub
) -> None:
    v4 = stub.item({"link": "tab0", "address": "10.9.0.1/24"})
    v6 = stub.item({"link": "tab0", "address": "2001:db8:9::1/64", "flags": ["nodad"]})
    await stub.apply(v4, v6)
    await link_stub.apply(link_stub.item({"name": "tab0", "kind": "bridge", "up": True}))
    reply = await stub.apply(v4, v6, wait=True)
    assert [(item.status.link, item.status.address) for item in reply.items] == [
        ("tab0", "10.9.0.1/24"),
        ("tab0", "2001:db8:9::1/64"),
    ]
    assert {"tab0/10.9.0.1/24", "tab0/2001:db8:9::1/64"} <= ip_addresses(daemon)
    await stub.delete("tab0/10.9.0.1/24")
    await stub.delete("tab0/2001:db8:9::1/64")
    assert not {"tab0/10.9.0.1/24", "tab0/2001:db8:9::1/64"} & ip_addresses(daemon)
    await link_stub.delete("tab0")


async def test_an_address_deleted_behind_cosids_back_is_repaired(
    daemon: Daemon, stub: TypedStub, link_stub: TypedStub
) -> None:
    await link_stub.apply(link_stub.item({"name": "tab1", "kind": "bridge", "up": True}), wait=True)
    await stub.apply(stub.item({"link": "tab1", "address": "10.9.1.1/24"}), wait=True)
    in_daemon(daemon, "ip", "addr", "del", "10.9.1.1/24", "dev", "tab1")

    async def repaired() -> bool:
        return "tab1/10.9.1.1/24" in ip_addresses(daemon)

    await specs.until(repaired)
    await stub.delete("tab1/10.9.1.1/24")
    await link_stub.delete("tab1")


async def test_an_invalid_cidr_is_refused_naming_the_field(stub: TypedStub) -> None:
    error = await rpc_error(stub.apply(stub.item({"link": "tab2", "address": "10.9.2.1"})))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.address" in str(error.details())
