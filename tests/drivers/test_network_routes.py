"""The netlink route driver against the real kernel, in a fresh network namespace; `ip -j
route` in that namespace is the witness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from cosid.drivers.network.netlink_network import NetlinkNetwork
from cosid.drivers.network.route_driver import (
    RouteDriver,
    RouteGatewayUnreachableError,
    RouteLinkDownError,
    RouteLinkNotFoundError,
)
from cosid.drivers.network.routes import NetlinkRouteDriver
from cosid.resources.routes import RouteSpec
from tests.drivers.netns import NetNamespace, fresh_netns, unavailable
from tests.drivers.routes import ip_routes

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

T = TypeVar("T")


def as_driver(driver: NetlinkRouteDriver) -> RouteDriver:
    """Never called: mypy checks here that the netlink driver implements the Protocol."""
    return driver


def routes(namespace: NetNamespace) -> dict[str, dict[str, Any]]:
    return ip_routes(lambda *command: namespace.exec(*command).stdout)


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    """A namespace with a veth pair, v0 up at 10.0.0.1/24 and 2001:db8::1/64."""
    with fresh_netns() as namespace:
        namespace.exec("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        namespace.exec("ip", "link", "set", "v0", "up")
        namespace.exec("ip", "addr", "add", "10.0.0.1/24", "dev", "v0")
        namespace.exec("ip", "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad")
        yield namespace


def with_driver(netns: NetNamespace, scenario: Callable[[NetlinkRouteDriver], Awaitable[T]]) -> T:
    async def inside() -> T:
        network = NetlinkNetwork()
        try:
            return await scenario(network.routes)
        finally:
            network.close()

    return netns.run(inside())


def test_adds_finds_replaces_and_deletes_routes(netns: NetNamespace) -> None:
    specs = [
        RouteSpec(destination="default", gateway="10.0.0.254"),
        RouteSpec(destination="10.1.0.0/16", link="v0", metric=100, table=100, protocol="dhcp"),
        RouteSpec(destination="10.1.0.0/16", link="v0", source="10.0.0.1", table=4000),
        RouteSpec(destination="2001:db8:1::/64", gateway="2001:db8::fe", link="v0"),
        RouteSpec(destination="10.9.0.0/16", type="blackhole"),
        RouteSpec(destination="2001:db8:9::/48", type="unreachable", metric=7),
    ]

    async def add(driver: NetlinkRouteDriver) -> None:
        for spec in specs:
            assert await driver.find(spec.key) is None
            await driver.add(spec)
        found = await driver.find(specs[0].key)
        assert found is not None
        assert (found.gateway, found.link, found.scope, found.protocol) == (
            "10.0.0.254",
            "v0",
            "universe",
            "static",
        )
        found = await driver.find(specs[2].key)
        assert found is not None
        assert (found.source, found.scope, found.key.table) == ("10.0.0.1", "link", "4000")
        found = await driver.find(specs[5].key)
        assert found is not None
        assert (found.type, found.family) == ("unreachable", "inet6")

    with_driver(netns, add)
    shown = routes(netns)
    assert shown["main/0.0.0.0/0/0"]["gateway"] == "10.0.0.254"
    assert shown["100/10.1.0.0/16/100"]["protocol"] == "dhcp"
    assert shown["4000/10.1.0.0/16/0"]["prefsrc"] == "10.0.0.1"
    assert shown["main/2001:db8:1::/64/1024"]["gateway"] == "2001:db8::fe"
    assert shown["main/10.9.0.0/16/0"]["type"] == "blackhole"
    assert shown["main/2001:db8:9::/48/7"]["type"] == "unreachable"

    replaced = RouteSpec(destination="default", gateway="10.0.0.253")

    async def replace_and_delete(driver: NetlinkRouteDriver) -> None:
        await driver.add(replaced)
        for spec in specs:
            await driver.delete(spec)
            await driver.delete(spec)  # gone already: nothing to do

    with_driver(netns, replace_and_delete)
    shown = routes(netns)
    assert shown["main/0.0.0.0/0/0"]["gateway"] == "10.0.0.253"  # not the deleted spec's
    assert not {spec.id for spec in specs[1:]} & set(shown)

    async def delete_replaced(driver: NetlinkRouteDriver) -> None:
        await driver.delete(replaced)

    with_driver(netns, delete_replaced)
    assert replaced.id not in routes(netns)


def test_deleting_a_metric_0_route_never_takes_another_metrics(netns: NetNamespace) -> None:
    netns.exec("ip", "route", "add", "10.2.0.0/16", "dev", "v0", "metric", "50")
    spec = RouteSpec(destination="10.2.0.0/16", link="v0")

    async def delete(driver: NetlinkRouteDriver) -> None:
        await driver.delete(spec)

    with_driver(netns, delete)
    assert "main/10.2.0.0/16/50" in routes(netns)


def test_why_a_route_cannot_be_added_yet(netns: NetNamespace) -> None:
    netns.exec("ip", "link", "add", "down0", "type", "veth", "peer", "name", "down1")

    async def refused(driver: NetlinkRouteDriver) -> None:
        cases = [
            (RouteSpec(destination="10.3.0.0/16", link="missing"), RouteLinkNotFoundError),
            (RouteSpec(destination="10.3.0.0/16", link="down0"), RouteLinkDownError),
            (
                RouteSpec(destination="10.3.0.0/16", gateway="10.7.0.1"),
                RouteGatewayUnreachableError,
            ),
            (
                RouteSpec(destination="2001:db8:3::/64", gateway="2001:db8:7::1"),
                RouteGatewayUnreachableError,
            ),
        ]
        for spec, error in cases:
            with pytest.raises(error):
                await driver.add(spec)

    with_driver(netns, refused)


def test_finds_read_the_mirror_and_see_routes_the_kernel_drops_silently(
    netns: NetNamespace,
) -> None:
    """Routes reach the finds through the kernel's notices, with no dump per change. IPv4
    drops a link's routes without a notice when the link goes down: the mirror drops them
    too, still without a dump; a carrier lost flags them `linkdown`, also without a notice,
    which only a dump shows."""
    key = RouteSpec(destination="10.4.0.0/16", link="v0").key

    async def scenario() -> None:
        network = NetlinkNetwork()
        try:
            assert await network.routes.find(key) is None
            netns.exec("ip", "route", "add", "10.4.0.0/16", "dev", "v0")
            found = await network.routes.find(key)
            assert found is not None
            assert "linkdown" in found.flags  # v1, the peer, is down
            netns.exec("ip", "link", "set", "v1", "up")  # the carrier comes a moment later
            mirror = network.mirror

            def up_again() -> bool:
                route = mirror.route(key)
                return route is not None and "linkdown" not in route.flags

            await mirror.until(up_again, 2)
            found = await network.routes.find(key)
            assert found is not None
            assert "linkdown" not in found.flags
            dumps = mirror.dumps
            netns.exec("ip", "link", "set", "v0", "down")
            assert await network.routes.find(key) is None
            assert network.mirror.dumps == dumps
        finally:
            network.close()

    netns.run(scenario())


def test_a_route_replaced_out_of_another_link_is_the_new_one_only(netns: NetNamespace) -> None:
    """`ip route replace` announces the new route, not the old one's going: the mirror drops
    the old one itself (IPv4 and IPv6 alike), and keeps both when a route is appended."""
    netns.exec("ip", "link", "add", "w0", "type", "veth", "peer", "name", "w1")
    netns.exec("ip", "link", "set", "w0", "up")
    v4 = RouteSpec(destination="10.5.0.0/16", link="v0")
    v6 = RouteSpec(destination="2001:db8:5::/64", link="v0")

    async def scenario(driver: NetlinkRouteDriver) -> None:
        for spec in (v4, v6):
            await driver.add(spec)
            netns.exec("ip", "route", "replace", spec.destination, "dev", "w0")
            found = await driver.find(spec.key, "v0")
            assert found is not None
            assert found.link == "w0", spec
        netns.exec("ip", "route", "append", v4.destination, "dev", "v0")
        assert {await links_of(driver, v4, name) for name in ("v0", "w0")} == {"v0", "w0"}

    with_driver(netns, scenario)


async def links_of(driver: NetlinkRouteDriver, spec: RouteSpec, link: str) -> str | None:
    found = await driver.find(spec.key, link)
    return None if found is None else found.link
