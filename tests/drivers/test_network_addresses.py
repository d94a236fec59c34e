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
from cosid.drivers.network.netlink import NetlinkLinkDriver
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
        links = NetlinkLinkDriver()
        driver = NetlinkAddressDriver(links)
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
            links.close()

    netns.run(add())
    shown = ip_addresses(netns, "v0")
    assert shown["10.0.0.5/24"]["noprefixroute"]
    assert shown["2001:db8::5/64"]["nodad"]

    async def delete() -> None:
        links = NetlinkLinkDriver()
        driver = NetlinkAddressDriver(links)
        try:
            await driver.delete("v0", v4.address)
            await driver.delete("v0", v4.address)  # gone already: nothing to do
            await driver.delete("v0", v6.address)
            await driver.delete("missing", v6.address)
        finally:
            links.close()

    netns.run(delete())
    assert not {"10.0.0.5/24", "2001:db8::5/64"} & set(ip_addresses(netns, "v0"))


def test_a_missing_link_is_link_not_found(netns: NetNamespace) -> None:
    async def scenario() -> None:
        links = NetlinkLinkDriver()
        driver = NetlinkAddressDriver(links)
        try:
            with pytest.raises(AddressLinkNotFoundError) as raised:
                await driver.find("missing", "10.0.0.5/24")
            assert raised.value.reason == "LinkNotFound"
        finally:
            links.close()

    netns.run(scenario())


def test_changes_tell_cosids_own_address_changes_from_others(netns: NetNamespace) -> None:
    """The kernel stamps a notification with the port of the socket whose request caused it:
    cosid's own add is OWN, `ip addr add` is DRIFT (what decides whether every item is
    reconciled, or only those waiting)."""

    async def scenario() -> None:
        links = NetlinkLinkDriver()
        driver = NetlinkAddressDriver(links)
        changes = driver.changes()
        try:
            await driver.add(AddressSpec(link="v0", address="10.0.0.5/24"))
            assert await asyncio.wait_for(anext(changes), 1) == Notice.OWN
            netns.exec("ip", "addr", "add", "10.0.0.6/24", "dev", "v0")
            assert await asyncio.wait_for(anext(changes), 1) == Notice.DRIFT
        finally:
            changes.close()
            links.close()

    netns.run(scenario())


def test_finds_share_one_dump_until_a_change(netns: NetNamespace) -> None:
    async def scenario() -> None:
        links = NetlinkLinkDriver()
        driver = NetlinkAddressDriver(links)
        changes = driver.changes()
        try:
            found = await asyncio.gather(*(driver.find("v0", "10.0.0.5/24") for _ in range(50)))
            assert found == [None] * 50
            assert driver.snapshot.reads == 1
            netns.exec("ip", "addr", "add", "10.0.0.5/24", "dev", "v0")
            await asyncio.wait_for(anext(changes), 1)
            assert await driver.find("v0", "10.0.0.5/24") is not None
            assert driver.snapshot.reads == 2
        finally:
            changes.close()
            links.close()

    netns.run(scenario())
