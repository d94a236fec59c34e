"""The routes controller under the real runtime and store, with the netlink drivers in a fresh
network namespace (the whole scenario runs on the namespace's thread); `ip -j route` there is
the witness. No resync: links appearing, gateways becoming reachable and drift are noticed
from the kernel's change notices alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from cosid.controllers.routes import RoutesController
from cosid.resources.document import from_spec, to_spec
from cosid.resources.routes import CONTROLLER, ORIGINALS, SPECS, RouteOriginal, RouteSpec
from cosid.runtime.runtime import Runtime
from cosid.state.resource import Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.controllers.network import Scenario, conditions_say, holds, run_controller
from tests.drivers.netns import NetNamespace, fresh_netns, unavailable
from tests.drivers.routes import ip_routes
from tests.runtime.conftest import eventually

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    with fresh_netns() as namespace:
        yield namespace


def spec(**fields: Any) -> Resource:
    model = RouteSpec.model_validate(fields)
    return Resource(Metadata(SPECS.namespace, SPECS.type, model.id), to_spec(model))


def at(id: str) -> Pointer:
    return Pointer(SPECS.namespace, SPECS.type, id)


def routes(netns: NetNamespace) -> dict[str, dict[str, Any]]:
    return ip_routes(lambda *command: netns.exec(*command).stdout)


def run(netns: NetNamespace, scenario: Scenario) -> None:
    run_controller(netns, lambda network: RoutesController(network.routes, None), scenario)


def reasons(store: Store, **wanted: str) -> Callable[[], Awaitable[bool]]:
    return conditions_say(store, CONTROLLER, SPECS, **wanted)


async def original(store: Store, id: str) -> RouteOriginal:
    stored = await store.get(Pointer(ORIGINALS.namespace, ORIGINALS.type, id))
    return from_spec(RouteOriginal, stored.spec)


def test_routes_wait_for_their_link_and_gateway_and_delete_restores(netns: NetNamespace) -> None:
    before = routes(netns)

    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(spec(destination="10.1.0.0/16", link="v0", metric=100, table=100))
        await store.create(spec(destination="default", gateway="10.0.0.254"))
        await store.create(spec(destination="2001:db8:1::/64", gateway="2001:db8::fe"))
        direct, default, v6 = "100/10.1.0.0/16/100", "main/0.0.0.0/0/0", "main/2001:db8:1::/64/1024"
        await eventually(
            reasons(
                store,
                **{direct: "WaitingForLink", default: "WaitingForGateway", v6: "WaitingForGateway"},
            )
        )
        assert direct not in routes(netns)
        netns.exec("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        netns.exec("ip", "link", "set", "v0", "up")
        await eventually(reasons(store, **{direct: "Reconciled"}))
        netns.exec("ip", "addr", "add", "10.0.0.1/24", "dev", "v0")
        netns.exec("ip", "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad")
        await eventually(reasons(store, **{default: "Reconciled", v6: "Reconciled"}))
        shown = routes(netns)
        assert shown[direct]["dev"] == "v0"
        assert shown[default]["gateway"] == "10.0.0.254"
        assert shown[v6]["gateway"] == "2001:db8::fe"
        assert (await original(store, default)).added
        for id in (direct, default, v6):
            await store.teardown_and_destroy(at(id))
        netns.exec("ip", "link", "del", "v0")

    run(netns, scenario)
    assert routes(netns) == before


def test_drift_is_repaired_from_the_kernel_event(netns: NetNamespace) -> None:
    netns.exec("ip", "link", "add", "br0", "type", "bridge")
    netns.exec("ip", "link", "set", "br0", "up")

    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(spec(destination="10.2.0.0/16", link="br0", table=200))
        await eventually(reasons(store, **{"200/10.2.0.0/16/0": "Reconciled"}))
        netns.exec("ip", "route", "del", "10.2.0.0/16", "table", "200")
        await eventually(holds(lambda: runtime.metrics()[CONTROLLER].repairs == 1))
        assert "200/10.2.0.0/16/0" in routes(netns)

    run(netns, scenario)


def test_a_route_it_found_is_put_back_on_delete(netns: NetNamespace) -> None:
    netns.exec("ip", "link", "add", "br0", "type", "bridge")
    netns.exec("ip", "link", "set", "br0", "up")
    netns.exec("ip", "addr", "add", "10.3.0.1/24", "dev", "br0")
    netns.exec("ip", "route", "add", "default", "via", "10.3.0.254", "proto", "dhcp")
    before = routes(netns)

    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(spec(destination="default", gateway="10.3.0.253"))
        await eventually(reasons(store, **{"main/0.0.0.0/0/0": "Reconciled"}))
        assert routes(netns)["main/0.0.0.0/0/0"]["gateway"] == "10.3.0.253"
        assert not (await original(store, "main/0.0.0.0/0/0")).added
        await store.teardown_and_destroy(at("main/0.0.0.0/0/0"))

    run(netns, scenario)
    assert routes(netns) == before
