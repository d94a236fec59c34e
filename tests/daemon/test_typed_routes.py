"""cosi.network.v1alpha1.RouteService end to end: the real daemon in --sandbox (its own
network namespace), driven through its typed services with no resync; the routes checked from
outside with `ip -j route` in the daemon's network namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from cosid.resources import addresses, links, routes
from tests.drivers.routes import ip_routes
from tests.support import specs
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub, in_daemon_namespaces, typed_stub
from tests.support.wire import field_violations, label_query, rpc_error, term


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=None) as started:
        yield started


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, routes.API) as opened:
        yield opened


@pytest.fixture
async def link_stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, links.API) as opened:
        yield opened


@pytest.fixture
async def address_stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, addresses.API) as opened:
        yield opened


def kernel_routes(daemon: Daemon) -> dict[str, dict[str, Any]]:
    return ip_routes(lambda *command: in_daemon_namespaces(daemon, "-n", *command))


async def test_routes_converge_once_link_and_address_are_applied_and_delete_restores(
    daemon: Daemon, stub: TypedStub, link_stub: TypedStub, address_stub: TypedStub
) -> None:
    before = kernel_routes(daemon)
    default = stub.item({"destination": "default", "gateway": "10.8.0.254"})
    direct = stub.item({"destination": "10.8.5.0/24", "link": "rt0", "metric": 20, "table": "100"})
    v6 = stub.item({"destination": "2001:db8:8:1::/64", "gateway": "2001:db8:8::fe"})
    await stub.apply(default, direct, v6)

    async def waiting() -> bool:
        return {item.metadata.id: item.condition.reason for item in await stub.list()} == {
            "main/0.0.0.0/0/0": "WaitingForGateway",
            "100/10.8.5.0/24/20": "WaitingForLink",
            "main/2001:db8:8:1::/64/1024": "WaitingForGateway",
        }

    await specs.until(waiting)
    await link_stub.apply(link_stub.item({"name": "rt0", "kind": "bridge", "up": True}), wait=True)
    await address_stub.apply(
        address_stub.item({"link": "rt0", "address": "10.8.0.1/24"}),
        address_stub.item({"link": "rt0", "address": "2001:db8:8::1/64", "flags": ["nodad"]}),
        wait=True,
    )
    reply = await stub.apply(default, direct, v6, wait=True)
    assert [item.status.protocol for item in reply.items] == ["static"] * 3
    shown = kernel_routes(daemon)
    assert shown["main/0.0.0.0/0/0"]["gateway"] == "10.8.0.254"
    assert shown["100/10.8.5.0/24/20"]["dev"] == "rt0"
    assert shown["main/2001:db8:8:1::/64/1024"]["gateway"] == "2001:db8:8::fe"
    for item in reply.items:
        await stub.delete(item.metadata.id)
    await address_stub.delete("rt0/10.8.0.1/24")
    await address_stub.delete("rt0/2001:db8:8::1/64")
    await link_stub.delete("rt0")
    assert kernel_routes(daemon) == before


async def test_a_route_deleted_behind_cosids_back_is_repaired(
    daemon: Daemon, stub: TypedStub, link_stub: TypedStub
) -> None:
    await link_stub.apply(link_stub.item({"name": "rt1", "kind": "bridge", "up": True}), wait=True)
    await stub.apply(stub.item({"destination": "10.8.1.0/24", "link": "rt1"}), wait=True)
    in_daemon_namespaces(daemon, "-n", "ip", "route", "del", "10.8.1.0/24")

    async def repaired() -> bool:
        return "main/10.8.1.0/24/0" in kernel_routes(daemon)

    await specs.until(repaired)
    await stub.delete("main/10.8.1.0/24/0")
    await link_stub.delete("rt1")


@pytest.mark.parametrize(
    ("items", "violations"),
    [
        ([{"destination": "10.8.2.1/24", "link": "rt2"}], {"items[0].spec.destination"}),
        ([{"destination": "10.8.2.0/33", "link": "rt2"}], {"items[0].spec.destination"}),
        ([{"destination": "10.8.2.0/24", "gateway": "2001:db8::1"}], {"items[0].spec.gateway"}),
        ([{"destination": "10.8.2.0/24", "link": "rt2/x"}], {"items[0].spec.link"}),
        ([{"destination": "10.8.2.0/24", "link": "rt2", "table": "0"}], {"items[0].spec.table"}),
        ([{"destination": "10.8.2.0/24", "link": "rt2", "scope": "far"}], {"items[0].spec.scope"}),
        (
            [
                {"destination": "10.8.2.0/24", "link": "rt2"},
                {"destination": "default", "gateway": "10.8.2.254"},
                {"destination": "0.0.0.0/0", "gateway": "10.8.2.253"},
            ],
            {"items[2].metadata.id"},
        ),
    ],
)
async def test_bad_input_is_refused_naming_the_field_and_applies_nothing(
    stub: TypedStub, items: list[dict[str, Any]], violations: set[str]
) -> None:
    error = await rpc_error(stub.apply(*(stub.item(spec) for spec in items)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == violations
    assert await stub.list() == []


async def test_an_observed_list_is_the_kernels_routes_main_table_unless_asked(
    daemon: Daemon, stub: TypedStub, link_stub: TypedStub, address_stub: TypedStub
) -> None:
    """`observed` lists what the kernel has, spec or not: the main table by default (as `ip
    route` shows), every table with a label query on `table`; a route with a spec comes with
    it and its condition, one without has only its status."""
    await link_stub.apply(link_stub.item({"name": "ob0", "kind": "bridge", "up": True}), wait=True)
    await address_stub.apply(
        address_stub.item({"link": "ob0", "address": "10.7.0.1/24"}), wait=True
    )
    in_daemon_namespaces(
        daemon, "-n", "ip", "route", "add", "10.7.9.0/24", "dev", "ob0", "table", "7"
    )
    spec = stub.item({"destination": "10.7.8.0/24", "link": "ob0"})
    await stub.apply(spec, wait=True)
    everything = label_query(term("table"))
    kernel = kernel_routes(daemon)

    main = {item.metadata.id: item for item in await stub.list(observed=True)}
    assert set(main) == {id for id in kernel if id.startswith("main/")}
    assert main["main/10.7.8.0/24/0"].spec.link == "ob0"
    assert main["main/10.7.8.0/24/0"].condition.ready
    kernels_own = main["main/10.7.0.0/24/0"]
    assert not kernels_own.HasField("spec")
    assert kernels_own.status.protocol == "kernel"
    listed = {item.metadata.id for item in await stub.list(observed=True, label_query=[everything])}
    assert listed == set(kernel)
    assert {"7/10.7.9.0/24/0", "local/10.7.0.1/32/0"} <= listed
    assert [item.metadata.id for item in await stub.list()] == ["main/10.7.8.0/24/0"]

    await stub.delete("main/10.7.8.0/24/0")
    await address_stub.delete("ob0/10.7.0.1/24")
    await link_stub.delete("ob0")
