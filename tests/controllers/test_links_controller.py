"""The links controller under the real runtime and store, with the netlink driver in a fresh
network namespace (the whole scenario runs on the namespace's thread); `ip -j link` there is
the witness. No resync: drift is repaired from the kernel's change notices alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from cosid.controllers.links import LinksController
from cosid.resources.document import to_spec
from cosid.resources.links import CONTROLLER, SPECS, LinkSpec
from cosid.runtime.runtime import Runtime
from cosid.state.resource import Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.controllers.network import Scenario, conditions_say, run_controller
from tests.drivers.netns import NetNamespace, fresh_netns, unavailable
from tests.drivers.network import ip_links
from tests.runtime.conftest import eventually

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    with fresh_netns() as namespace:
        yield namespace


def spec(**fields: Any) -> Resource:
    model = LinkSpec.model_validate(fields)
    return Resource(Metadata(SPECS.namespace, SPECS.type, model.id), to_spec(model))


def at(name: str) -> Pointer:
    return Pointer(SPECS.namespace, SPECS.type, name)


def run(netns: NetNamespace, scenario: Scenario) -> None:
    run_controller(netns, lambda network: LinksController(network.links, None), scenario)


def reasons(store: Store, **wanted: str) -> Callable[[], Awaitable[bool]]:
    return conditions_say(store, CONTROLLER, SPECS, **wanted)


def test_creates_configures_and_deletes_links_it_created(netns: NetNamespace) -> None:
    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(
            spec(name="v0", kind="veth", veth={"peer": "v1"}, master="br0", mtu=1400)
        )
        await store.create(spec(name="br0", kind="bridge"))
        await eventually(reasons(store, v0="Reconciled", br0="Reconciled"))
        links = ip_links(netns)
        assert links["v0"]["master"] == "br0"
        assert links["v0"]["mtu"] == 1400
        assert "UP" in links["v0"]["flags"]
        assert "UP" in links["br0"]["flags"]
        await store.teardown_and_destroy(at("v0"))
        await store.teardown_and_destroy(at("br0"))
        await eventually(lambda: _async(set(ip_links(netns)) == {"lo"}))

    run(netns, scenario)


def test_an_existing_link_is_configured_restored_and_never_deleted(netns: NetNamespace) -> None:
    netns.exec("ip", "link", "add", "e0", "type", "veth", "peer", "name", "e1")

    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(spec(name="br0", kind="bridge"))
        await store.create(spec(name="e0", kind="physical", mtu=1300, master="br0"))
        await eventually(reasons(store, e0="Reconciled"))
        links = ip_links(netns)
        assert (links["e0"]["mtu"], links["e0"]["master"]) == (1300, "br0")
        assert "UP" in links["e0"]["flags"]
        await store.teardown_and_destroy(at("e0"))
        e0 = ip_links(netns)["e0"]
        assert (e0["mtu"], e0.get("master"), "UP" in e0["flags"]) == (1500, None, False)

    run(netns, scenario)
    assert {"e0", "e1", "br0"} <= set(ip_links(netns))


def test_drift_is_repaired_from_the_kernel_event(netns: NetNamespace) -> None:
    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(spec(name="br0", kind="bridge", mtu=1400))
        await eventually(reasons(store, br0="Reconciled"))
        netns.exec("ip", "link", "set", "br0", "down", "mtu", "1500")
        await eventually(lambda: _async(runtime.metrics()[CONTROLLER].repairs == 1))
        br0 = ip_links(netns)["br0"]
        assert ("UP" in br0["flags"], br0["mtu"]) == (True, 1400)

    run(netns, scenario)


def test_a_port_waits_for_its_master_and_converges_when_it_appears(netns: NetNamespace) -> None:
    netns.exec("ip", "link", "add", "e0", "type", "veth", "peer", "name", "e1")

    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(spec(name="e0", kind="physical", master="br0"))
        await eventually(reasons(store, e0="WaitingForMaster"))
        netns.exec("ip", "link", "add", "br0", "type", "bridge")
        await eventually(reasons(store, e0="Reconciled"))
        assert ip_links(netns)["e0"]["master"] == "br0"

    run(netns, scenario)


def test_kinds_this_kernel_lacks_fail_while_others_converge(netns: NetNamespace) -> None:
    async def scenario(store: Store, runtime: Runtime) -> None:
        await store.create(spec(name="d0", kind="dummy"))
        await store.create(spec(name="b0", kind="bond", bond={"mode": "802.3ad"}))
        await store.create(spec(name="vl5", kind="vlan", vlan={"id": 5, "parent": "br0"}))
        await store.create(spec(name="br0", kind="bridge"))
        await eventually(
            reasons(
                store,
                d0="KindNotSupported",
                b0="KindNotSupported",
                vl5="KindNotSupported",
                br0="Reconciled",
            )
        )
        await store.teardown_and_destroy(at("d0"))  # nothing was created: nothing to undo

    run(netns, scenario)
    assert set(ip_links(netns)) == {"lo", "br0"}


async def _async(value: bool) -> bool:
    return value
