"""The addresses controller under the real runtime and store, with the netlink drivers in a
fresh network namespace (the whole scenario runs on the namespace's thread); `ip -j addr` there
is the witness. No resync: the link appearing and drift are noticed from the kernel's
change notices alone."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from cosid.controllers.addresses import AddressesController
from cosid.resources.addresses import CONTROLLER, SPECS, AddressSpec
from cosid.resources.document import to_spec
from cosid.runtime.runtime import Runtime
from cosid.state.resource import Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.controllers.network import Scenario, conditions_say, holds, run_controller
from tests.drivers.netns import NetNamespace, fresh_netns, unavailable
from tests.runtime.conftest import eventually

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    with fresh_netns() as namespace:
        yield namespace


def spec(**fields: Any) -> Resource:
    model = AddressSpec.model_validate(fields)
    return Resource(Metadata(SPECS.namespace, SPECS.type, model.id), to_spec(model))


def at(id: str) -> Pointer:
    return Pointer(SPECS.namespace, SPECS.type, id)


def ip_addresses(namespace: NetNamespace, link: str) -> set[str]:
    """The link's addresses (``10.0.0.5/24``), as ``ip -j addr show`` prints them."""
    shown = json.loads(namespace.exec("ip", "-j", "addr", "show", "dev", link).stdout)
    return {f"{a['local']}/{a['prefixlen']}" for link in shown for a in link["addr_info"]}


def run(netns: NetNamespace, scenario: Scenario) -> None:
    run_controller(netns, lambda network: AddressesController(network.addresses, None), scenario)


def reasons(store: Store, **wanted: str) -> Callable[[], Awaitable[bool]]:
    return conditions_say(store, CONTROLLER, SPECS, **wanted)


def test_an_address_waits_for_its_link_and_delete_restores(netns: NetNamespace) -> None:
    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(spec(link="v0", address="10.0.0.5/24"))
        await store.create(spec(link="v0", address="2001:db8::5/64", flags=["nodad"]))
        v4, v6 = "v0/10.0.0.5/24", "v0/2001:db8::5/64"
        await eventually(reasons(store, **{v4: "WaitingForLink", v6: "WaitingForLink"}))
        netns.exec("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        await eventually(reasons(store, **{v4: "Reconciled", v6: "Reconciled"}))
        assert {"10.0.0.5/24", "2001:db8::5/64"} <= ip_addresses(netns, "v0")
        await store.teardown_and_destroy(at(v4))
        await store.teardown_and_destroy(at(v6))
        assert not {"10.0.0.5/24", "2001:db8::5/64"} & ip_addresses(netns, "v0")

    run(netns, scenario)


def test_drift_is_repaired_from_the_kernel_event(netns: NetNamespace) -> None:
    netns.exec("ip", "link", "add", "br0", "type", "bridge")

    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(spec(link="br0", address="10.1.0.1/16"))
        await eventually(reasons(store, **{"br0/10.1.0.1/16": "Reconciled"}))
        netns.exec("ip", "addr", "del", "10.1.0.1/16", "dev", "br0")
        await eventually(holds(lambda: runtime.metrics()[CONTROLLER].repairs == 1))
        assert "10.1.0.1/16" in ip_addresses(netns, "br0")

    run(netns, scenario)


def test_an_address_it_found_is_kept_on_delete(netns: NetNamespace) -> None:
    netns.exec("ip", "link", "add", "br0", "type", "bridge")
    netns.exec("ip", "addr", "add", "10.2.0.1/24", "dev", "br0")

    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(spec(link="br0", address="10.2.0.1/24"))
        await eventually(reasons(store, **{"br0/10.2.0.1/24": "Reconciled"}))
        await store.teardown_and_destroy(at("br0/10.2.0.1/24"))

    run(netns, scenario)
    assert "10.2.0.1/24" in ip_addresses(netns, "br0")
