"""Links, addresses and routes together on the guest's kernel, in the order a node needs
them and undone in reverse: a dummy link (its module loaded by cosid), an address on it, a
gateway route through that address and a default route in another table; the statuses show
every link of the guest, cosid's or not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cosid.resources import addresses, links, modules, routes
from tests.support.typed import typed_stub_at
from tests.vm.machine import Machine

pytestmark = pytest.mark.timeout(600)

WAIT = 120.0
GATEWAY_ROUTE = {"destination": "10.98.0.0/16", "gateway": "10.99.0.2", "metric": 50}
TABLE_ROUTE = {"destination": "0.0.0.0/0", "link": "vmnet0", "table": "100"}


def kernel(vm: Machine, *argv: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(vm.check("ip", "-j", *argv))
    return found


async def test_link_address_and_routes(vm: Machine) -> None:
    async with typed_stub_at(vm.grpc_target, modules.API) as stub:
        await stub.apply(stub.item({"name": "dummy"}), wait=True, deadline=WAIT)
    # applied all at once, in reverse order of need: cosid orders them
    async with (
        typed_stub_at(vm.grpc_target, routes.API) as route_stub,
        typed_stub_at(vm.grpc_target, addresses.API) as address_stub,
        typed_stub_at(vm.grpc_target, links.API) as link_stub,
    ):
        await route_stub.apply(
            route_stub.item(GATEWAY_ROUTE), route_stub.item(TABLE_ROUTE), deadline=WAIT
        )
        address = address_stub.item({"link": "vmnet0", "address": "10.99.0.1/24"})
        await address_stub.apply(address, deadline=WAIT)
        link = link_stub.item({"name": "vmnet0", "kind": "dummy", "up": True})
        await link_stub.apply(link, wait=True, deadline=WAIT)
        await route_stub.apply(
            route_stub.item(GATEWAY_ROUTE), route_stub.item(TABLE_ROUTE), wait=True, deadline=WAIT
        )
        [found] = kernel(vm, "addr", "show", "dev", "vmnet0")
        assert "10.99.0.1" in [info["local"] for info in found["addr_info"]]
        [via] = kernel(vm, "route", "show", "10.98.0.0/16")
        assert (via["gateway"], via["dev"], via["metric"]) == ("10.99.0.2", "vmnet0", 50)
        [default] = kernel(vm, "route", "show", "table", "100")
        assert (default["dst"], default["dev"]) == ("default", "vmnet0")
        observed = {item.metadata.id for item in await link_stub.list(observed=True)}
        assert observed == {link["ifname"] for link in kernel(vm, "link", "show")}  # eth0 too
        for item in await route_stub.list():
            await route_stub.delete(item.metadata.id, WAIT)
        await address_stub.delete("vmnet0/10.99.0.1/24", WAIT)
        await link_stub.delete("vmnet0", WAIT)
    assert kernel(vm, "route", "show", "10.98.0.0/16") == []
    assert vm.run("ip", "link", "show", "vmnet0").returncode != 0
    async with typed_stub_at(vm.grpc_target, modules.API) as stub:
        await stub.delete("dummy", WAIT)
