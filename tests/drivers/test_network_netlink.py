"""The netlink link driver against the real kernel, in a fresh network namespace; `ip -j link`
in that namespace is the witness."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from cosid.drivers.network import (
    LinkDriver,
    LinkInvalidError,
    LinkKindNotSupportedError,
    LinkNotFoundError,
)
from cosid.drivers.network.netlink import NetlinkLinkDriver
from cosid.drivers.network.netlink_network import NetlinkNetwork
from cosid.resources.links import LinkSpec
from tests.drivers.netns import NetNamespace, fresh_netns, unavailable
from tests.drivers.network import ip_links

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def as_driver(driver: NetlinkLinkDriver) -> LinkDriver:
    """Never called: mypy checks here that the netlink driver implements the Protocol."""
    return driver


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    with fresh_netns() as namespace:
        yield namespace


def test_creates_configures_and_deletes_a_veth_pair_in_a_bridge(netns: NetNamespace) -> None:
    async def scenario() -> None:
        network = NetlinkNetwork()
        driver = network.links
        try:
            await driver.create(LinkSpec(name="v0", kind="veth", veth={"peer": "v1"}, mtu=1400))
            await driver.create(LinkSpec(name="br0", kind="bridge"))
            await driver.set_master("v0", "br0")
            await driver.set_mac("v0", "02:00:00:00:00:01")
            await driver.set_up("v0", True)
            found = await driver.find("v0")
            assert found is not None
            assert (found.kind, found.mtu, found.master, found.up) == ("veth", 1400, "br0", True)
            assert found.mac == "02:00:00:00:00:01"
            assert await driver.find("missing") is None
        finally:
            network.close()

    netns.run(scenario())
    links = ip_links(netns)
    assert links["v0"]["master"] == "br0"
    assert links["v0"]["mtu"] == 1400
    assert "UP" in links["v0"]["flags"]
    assert links["v0"]["address"] == "02:00:00:00:00:01"

    async def release_and_delete() -> None:
        network = NetlinkNetwork()
        driver = network.links
        try:
            await driver.set_master("v0", None)
            await driver.delete("v0")
            await driver.delete("v0")  # gone already: nothing to do
        finally:
            network.close()

    netns.run(release_and_delete())
    assert set(ip_links(netns)) == {"lo", "br0"}


@pytest.mark.parametrize(
    "spec",
    [
        LinkSpec(name="d0", kind="dummy"),
        LinkSpec(name="vl0", kind="vlan", vlan={"id": 5, "parent": "lo"}),
        LinkSpec(name="b0", kind="bond", bond={"mode": "active-backup"}),
    ],
    ids=lambda spec: spec.kind,
)
def test_a_kind_this_kernel_lacks_is_not_supported(netns: NetNamespace, spec: LinkSpec) -> None:
    """This development kernel has no dummy, vlan or bond drivers (the VM's kernel has)."""
    if "dummy" in ip_links(netns):
        pytest.skip("this kernel has the kind")

    async def scenario() -> None:
        network = NetlinkNetwork()
        driver = network.links
        try:
            with pytest.raises(LinkKindNotSupportedError) as raised:
                await driver.create(spec)
            assert raised.value.reason == "KindNotSupported"
        finally:
            network.close()

    netns.run(scenario())
    assert set(ip_links(netns)) == {"lo"}


def test_refusals_have_their_reasons(netns: NetNamespace) -> None:
    async def scenario() -> None:
        network = NetlinkNetwork()
        driver = network.links
        try:
            with pytest.raises(LinkNotFoundError):
                await driver.set_mtu("missing", 1400)
            with pytest.raises(LinkNotFoundError):
                await driver.set_master("lo", "missing")
            await driver.create(LinkSpec(name="br0", kind="bridge"))
            with pytest.raises(LinkInvalidError) as raised:
                await driver.set_mtu("br0", 65535 + 1)
            assert raised.value.reason == "InvalidSetting"
        finally:
            network.close()

    netns.run(scenario())


def test_changes_wake_once_per_burst(netns: NetNamespace) -> None:
    async def scenario() -> None:
        network = NetlinkNetwork()
        driver = network.links
        changes = driver.changes()
        try:
            for index in range(20):
                await driver.create(LinkSpec(name=f"br{index}", kind="bridge"))
            await asyncio.wait_for(anext(changes), 1)
            with pytest.raises(TimeoutError):  # the burst was one notice
                await asyncio.wait_for(anext(changes), 0.2)
            changes.close()
            with pytest.raises(StopAsyncIteration):
                await anext(changes)
        finally:
            changes.close()
            network.close()

    netns.run(scenario())


def test_creates_macvlan_and_vxlan_on_a_parent(netns: NetNamespace) -> None:
    async def scenario() -> None:
        network = NetlinkNetwork()
        driver = network.links
        try:
            await driver.create(LinkSpec(name="v0", kind="veth", veth={"peer": "v1"}))
            await driver.create(
                LinkSpec(name="mv0", kind="macvlan", macvlan={"parent": "v0", "mode": "vepa"})
            )
            await driver.create(
                LinkSpec(name="vx0", kind="vxlan", vxlan={"vni": 42, "dev": "v0", "port": 4789})
            )
        finally:
            network.close()

    netns.run(scenario())
    shown = json.loads(netns.exec("ip", "-d", "-j", "link", "show").stdout)
    details = {
        link["ifname"]: link["linkinfo"].get("info_data", {})
        for link in shown
        if "linkinfo" in link
    }
    assert details["mv0"]["mode"] == "vepa"
    assert (details["vx0"]["id"], details["vx0"]["link"], details["vx0"]["port"]) == (
        42,
        "v0",
        4789,
    )
