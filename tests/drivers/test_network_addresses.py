"""The netlink address driver against the real kernel, in a fresh network namespace; `ip -j
addr` in that namespace is the witness."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from cosid.drivers.network.addresses import NetlinkAddressDriver
from cosid.drivers.network.driver import AddressDriver, AddressLinkNotFoundError
from cosid.drivers.network.netlink_network import NetlinkNetwork
from cosid.resources.addresses import AddressSpec
from cosid.runtime.controller import Notice
from tests.drivers.netns import NetNamespace, fresh_netns, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def as_driver(driver: NetlinkAddressDriver) -> AddressDriver:
    """Never called: mypy checks here that the netlink driver implements the Protocol."""
    return driver


def ip_addresses(namespace: NetNamespace, link: str) -> dict[str, dict[str, Any]]:
    """The link's addresses by CIDR, as ``ip -j addr show`` prints them."""
    [shown] = json.loads(namespace.exec("ip", "-j", "addr", "show", "dev", link).stdout)
    return {f"{a['local']}/{a['prefixlen']}": a for a in shown["addr_info"]}


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    with fresh_netns() as namespace:
        namespace.exec("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        yield namespace


def test_adds_finds_and_deletes_v4_and_v6(netns: NetNamespace) -> None:
    v4 = AddressSpec(link="v0", address="10.0.0.5/24", flags=["noprefixroute"])
    v6 = AddressSpec(link="v0", address="2001:db8::5/64", flags=["nodad"])

    async def add() -> None:
        network = NetlinkNetwork()
        driver = network.addresses
        try:
            assert await driver.find("v0", v4.address) is None
            await driver.add(v4)
            await driver.add(v6)
            found = await driver.find("v0", v6.address)
            assert found is not None
            assert (found.family, found.scope, found.valid_lifetime) == ("inet6", "global", None)
            assert {"nodad", "permanent"} <= set(found.flags)
            found = await driver.find("v0", v4.address)
            assert found is not None
            assert "noprefixroute" in found.flags
        finally:
            network.close()

    netns.run(add())
    shown = ip_addresses(netns, "v0")
    assert shown["10.0.0.5/24"]["noprefixroute"]
    assert shown["2001:db8::5/64"]["nodad"]

    async def delete() -> None:
        network = NetlinkNetwork()
        driver = network.addresses
        try:
            await driver.delete("v0", v4.address)
            await driver.delete("v0", v4.address)  # gone already: nothing to do
            await driver.delete("v0", v6.address)
            await driver.delete("missing", v6.address)
        finally:
            network.close()

    netns.run(delete())
    assert not {"10.0.0.5/24", "2001:db8::5/64"} & set(ip_addresses(netns, "v0"))


def test_a_missing_link_is_link_not_found(netns: NetNamespace) -> None:
    async def scenario() -> None:
        network = NetlinkNetwork()
        driver = network.addresses
        try:
            with pytest.raises(AddressLinkNotFoundError) as raised:
                await driver.find("missing", "10.0.0.5/24")
            assert raised.value.reason == "LinkNotFound"
        finally:
            network.close()

    netns.run(scenario())


def test_changes_tell_cosids_own_address_changes_from_others(netns: NetNamespace) -> None:
    """The kernel stamps a notification with the port of the socket whose request caused it:
    cosid's own add is OWN, `ip addr add` is DRIFT (what decides whether every item is
    reconciled, or only those waiting)."""

    async def scenario() -> None:
        network = NetlinkNetwork()
        driver = network.addresses
        changes = driver.changes()
        try:
            await driver.add(AddressSpec(link="v0", address="10.0.0.5/24"))
            assert await asyncio.wait_for(anext(changes), 1) == Notice.OWN
            netns.exec("ip", "addr", "add", "10.0.0.6/24", "dev", "v0")
            assert await asyncio.wait_for(anext(changes), 1) == Notice.DRIFT
        finally:
            changes.close()
            network.close()

    netns.run(scenario())


def test_finds_read_the_mirror_one_dump_then_the_kernels_notices(netns: NetNamespace) -> None:
    """One dump at the first read; after that every change (cosid's or anyone's) reaches the
    finds through the notices, with no dump, and is seen by the very next find. (Deleting an
    IPv4 address makes the next read dump the routes: the kernel drops the routes using it
    without a notice.)"""

    async def scenario() -> None:
        network = NetlinkNetwork()
        driver = network.addresses
        try:
            found = await asyncio.gather(*(driver.find("v0", "10.0.0.5/24") for _ in range(50)))
            assert found == [None] * 50
            netns.exec("ip", "addr", "add", "10.0.0.5/24", "dev", "v0")
            assert await driver.find("v0", "10.0.0.5/24") is not None
            await driver.add(AddressSpec(link="v0", address="10.0.0.6/24"))
            assert await driver.find("v0", "10.0.0.6/24") is not None
            assert network.mirror.dumps == 1
            netns.exec("ip", "addr", "del", "10.0.0.5/24", "dev", "v0")
            assert await driver.find("v0", "10.0.0.5/24") is None
        finally:
            network.close()

    netns.run(scenario())
