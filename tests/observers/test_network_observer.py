"""The network observer under the real runtime and store, in a fresh network namespace: its
statuses are every link, address and route the kernel has, kept so from the kernel's notices
alone (no resync). `ip -j` in the namespace is the witness."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from cosid.drivers.network.netlink_network import NetlinkNetwork
from cosid.observers.network import NetworkObserver
from cosid.resources import addresses, links, routes
from cosid.resources.document import from_spec
from cosid.resources.routes import RouteStatus
from cosid.runtime.runtime import Runtime
from cosid.state.resource import Kind, Pointer
from cosid.state.store import Store
from tests.drivers.netns import NetNamespace, fresh_netns, unavailable
from tests.drivers.routes import ip_routes
from tests.runtime.conftest import FAST, eventually

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    """A veth pair with addresses of both families: local, broadcast, multicast and
    link-local routes in several tables come with them."""
    with fresh_netns() as namespace:
        namespace.exec("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        namespace.exec("ip", "link", "set", "v0", "up")
        namespace.exec("ip", "link", "set", "v1", "up")
        namespace.exec("ip", "addr", "add", "10.0.0.1/24", "dev", "v0")
        namespace.exec("ip", "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad")
        namespace.exec("ip", "route", "add", "10.9.0.0/16", "dev", "v0", "table", "100")
        yield namespace


def kernel(netns: NetNamespace) -> dict[str, set[str]]:
    """The ids of what `ip -j` shows: links, addresses (``<link>/<cidr>``), routes."""
    shown = json.loads(netns.exec("ip", "-j", "addr", "show").stdout)
    return {
        "links": {link["ifname"] for link in shown},
        "addresses": {
            f"{link['ifname']}/{a['local']}/{a['prefixlen']}"
            for link in shown
            for a in link["addr_info"]
        },
        "routes": set(ip_routes(lambda *command: netns.exec(*command).stdout)),
    }


async def statuses(store: Store) -> dict[str, set[str]]:
    kinds = {"links": links.STATUSES, "addresses": addresses.STATUSES, "routes": routes.STATUSES}
    return {name: {r.metadata.id for r in await store.list(kind)} for name, kind in kinds.items()}


def run(netns: NetNamespace, scenario: Callable[[Store, Runtime], Awaitable[None]]) -> None:
    async def inside() -> None:
        store = Store()
        network = NetlinkNetwork()
        runtime = Runtime(store, [], backoff=FAST, observers=[NetworkObserver(network.mirror)])
        runtime.start()
        try:
            await runtime.settled()
            await scenario(store, runtime)
        finally:
            await runtime.stop()
            network.close()

    netns.run(inside())


def mirrors(store: Store, netns: NetNamespace) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await statuses(store) == kernel(netns)

    return check


def test_statuses_are_everything_the_kernel_has_and_follow_its_changes(netns: NetNamespace) -> None:
    async def scenario(store: Store, runtime: Runtime) -> None:
        assert await statuses(store) == kernel(netns)  # once settled: the whole node
        assert "local/10.0.0.1/32/0" in kernel(netns)["routes"]  # all tables, not only main
        netns.exec("ip", "addr", "add", "10.0.0.2/24", "dev", "v0")
        netns.exec("ip", "addr", "add", "2001:db8::2/64", "dev", "v0", "nodad")
        netns.exec("ip", "route", "add", "10.8.0.0/16", "via", "10.0.0.254", "metric", "7")
        await eventually(mirrors(store, netns))
        netns.exec("ip", "link", "set", "v1", "down")  # IPv4 flags v0's routes linkdown
        await eventually(mirrors(store, netns))
        netns.exec("ip", "link", "set", "v0", "down")  # and drops them, silently
        await eventually(mirrors(store, netns))
        netns.exec("ip", "link", "set", "v0", "up")
        netns.exec("ip", "addr", "add", "10.0.0.3/24", "dev", "v0")
        netns.exec("ip", "route", "add", "10.6.0.0/16", "dev", "v0", "src", "10.0.0.3")
        await eventually(mirrors(store, netns))
        netns.exec("ip", "addr", "del", "10.0.0.3/24", "dev", "v0")  # takes 10.6/16 along
        await eventually(mirrors(store, netns))
        netns.exec("ip", "link", "set", "v1", "name", "peer0")
        await eventually(mirrors(store, netns))
        netns.exec("ip", "link", "del", "v0")  # and everything on it
        await eventually(mirrors(store, netns))
        assert runtime.metrics()["network-observer"].restarts == 0

    run(netns, scenario)


def test_statuses_say_what_the_kernel_says(netns: NetNamespace) -> None:
    async def scenario(store: Store, runtime: Runtime) -> None:
        route = await get(store, routes.STATUSES, "100/10.9.0.0/16/0")
        assert route.metadata.labels == {"table": "100", "family": "inet", "protocol": "boot"}
        status = from_spec(RouteStatus, route.spec)
        assert (status.link, status.type, status.scope) == ("v0", "unicast", "link")
        link = await get(store, links.STATUSES, "v0")
        assert link.metadata.labels == {"kind": "veth"}
        shown = json.loads(netns.exec("ip", "-j", "link", "show", "v0").stdout)[0]
        spec = json.loads(link.spec.yaml)
        assert (spec["index"], spec["mac"], spec["mtu"]) == (
            shown["ifindex"],
            shown["address"],
            shown["mtu"],
        )
        address = await get(store, addresses.STATUSES, "v0/2001:db8::1/64")
        assert address.metadata.labels == {"link": "v0", "family": "inet6"}

    run(netns, scenario)


def test_one_route_key_on_several_links_is_one_status(netns: NetNamespace) -> None:
    """IPv6 keeps fe80::/64 once per link: the status is the lowest index's, naming the rest."""

    async def scenario(store: Store, runtime: Runtime) -> None:
        by_index = sorted(
            json.loads(netns.exec("ip", "-j", "link", "show", "type", "veth").stdout),
            key=lambda link: link["ifindex"],
        )
        first, other = (link["ifname"] for link in by_index)
        await eventually(has_route(store, "main/fe80::/64/256", also_on=[other]))
        status = from_spec(
            RouteStatus, (await get(store, routes.STATUSES, "main/fe80::/64/256")).spec
        )
        assert status.link == first

    run(netns, scenario)


def has_route(store: Store, id: str, **fields: Any) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        found = [r for r in await store.list(routes.STATUSES) if r.metadata.id == id]
        if not found:
            return False
        status = from_spec(RouteStatus, found[0].spec)
        return all(getattr(status, name) == value for name, value in fields.items())

    return check


async def get(store: Store, kind: Kind, id: str) -> Any:
    return await store.get(Pointer(kind.namespace, kind.type, id))
