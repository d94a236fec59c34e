"""Per-link DNS through a real systemd-resolved on a private system bus.

resolved runs in network and mount namespaces of its own (`tests.support.dbus`); the test
makes veth pairs in its network namespace (``nsenter``) and runs the driver (and the
controller under a real Runtime) on a thread inside it (`run_inside`), so the driver finds
the links resolved knows. ``busctl`` asks resolved what it uses for a link (not cosid's code).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cosid.controllers.link_resolvers import LinkResolversController
from cosid.drivers import libc
from cosid.drivers.dbus import SystemBus
from cosid.drivers.dns import DnsUnsupportedError
from cosid.drivers.dns.link_driver import (
    DnsLinkBusyError,
    DnsLinkNotFoundError,
    LinkResolverDriver,
)
from cosid.drivers.dns.resolvconf_links import ResolvConfLinkDriver
from cosid.drivers.dns.resolved_links import ResolvedLinkDriver
from cosid.resources.document import from_spec, to_spec
from cosid.resources.link_resolvers import (
    CONTROLLER,
    SPECS,
    STATUSES,
    LinkResolverSpec,
    LinkResolverStatus,
)
from cosid.runtime.runtime import Runtime
from cosid.state.resource import Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.runtime.conftest import FAST, condition_of, eventually
from tests.support.dbus import (
    PrivateBus,
    Resolved,
    private_bus,
    private_resolved,
    skip_if_unavailable,
)

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
LINK = "cosid0"
SPEC = LinkResolverSpec(
    link=LINK,
    servers=("192.0.2.53", "2001:DB8::53"),
    domains=("Lab.Example.com", "~Corp.Example"),
    default_route=False,
)
APPLIED = LinkResolverStatus(
    link=LINK,
    servers=("192.0.2.53", "2001:db8::53"),
    domains=("lab.example.com", "~corp.example"),
    default_route=False,
)
WITHIN = 10.0
"""Long enough for the controller to converge on a loaded machine."""


def as_driver(driver: ResolvedLinkDriver) -> tuple[LinkResolverDriver, LinkResolverDriver]:
    """Never called: mypy checks here that both drivers implement the Protocol."""
    return driver, ResolvConfLinkDriver()


def run_inside(resolved: Resolved, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on a thread of its own in resolved's network namespace."""

    def inside() -> T:
        fd = os.open(f"/proc/{resolved.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            libc.setns(fd, CLONE_NEWNET)
        finally:
            os.close(fd)
        return asyncio.run(coroutine)

    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(inside).result(timeout=4 * WITHIN)


def add_veth(resolved: Resolved, name: str) -> int:
    """A veth pair (`name` and `name` + "p") in resolved's network namespace; `name`'s index."""
    inside = ("nsenter", "-t", str(resolved.pid), "-n")
    subprocess.run(
        [*inside, "ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p"],
        check=True,
        timeout=WITHIN,
    )
    shown = subprocess.run(
        [*inside, "ip", "-j", "link", "show", "dev", name],
        check=True,
        capture_output=True,
        text=True,
        timeout=WITHIN,
    )
    [link] = json.loads(shown.stdout)
    return int(link["ifindex"])


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PrivateBus]:
    skip_if_unavailable()
    with private_bus(tmp_path / "bus") as started:
        yield started


@pytest.fixture
def resolved(bus: PrivateBus, tmp_path: Path) -> Iterator[Resolved]:
    with private_resolved(bus, tmp_path / "resolved", tmp_path / "drop-ins") as started:
        yield started


@pytest.fixture
def driver(bus: PrivateBus) -> ResolvedLinkDriver:
    return ResolvedLinkDriver(SystemBus(bus.address, timeout=5.0))


def test_write_gives_resolved_the_links_settings_and_read_reports_them(
    driver: ResolvedLinkDriver, resolved: Resolved
) -> None:
    index = add_veth(resolved, LINK)

    run_inside(resolved, driver.write(SPEC))

    said = resolved.link_dns(index)
    assert "a(iay) 2 2 4 192 0 2 53 10 16 32 1 13 184" in said
    assert 'a(sb) 2 "lab.example.com" false "corp.example" true' in said
    assert "b false" in said
    found = run_inside(resolved, driver.read(LINK))
    assert found == APPLIED.model_copy(update={"index": index})


def test_revert_makes_resolved_forget_the_links_settings(
    driver: ResolvedLinkDriver, resolved: Resolved
) -> None:
    index = add_veth(resolved, LINK)
    run_inside(resolved, driver.write(SPEC))

    run_inside(resolved, driver.revert(LINK))

    said = resolved.link_dns(index)
    assert "a(iay) 0" in said
    assert "a(sb) 0" in said


def test_a_missing_link_is_not_found_and_revert_has_nothing_to_do(
    driver: ResolvedLinkDriver, resolved: Resolved
) -> None:
    with pytest.raises(DnsLinkNotFoundError) as raised:
        run_inside(resolved, driver.read("nosuch0"))

    assert raised.value.reason == "LinkNotFound"
    run_inside(resolved, driver.revert("nosuch0"))


def test_resolved_refuses_the_loopback_link(driver: ResolvedLinkDriver, resolved: Resolved) -> None:
    with pytest.raises(DnsLinkBusyError, match="loopback"):
        run_inside(resolved, driver.write(SPEC.model_copy(update={"link": "lo"})))


async def test_the_resolvconf_driver_refuses_every_spec() -> None:
    refusing = ResolvConfLinkDriver()

    with pytest.raises(DnsUnsupportedError, match=r"set domains\.dns\.driver to resolved"):
        await refusing.write(SPEC)
    await refusing.revert(LINK)


# --- under the controller -------------------------------------------------------------------


@asynccontextmanager
async def running(store: Store, driver: ResolvedLinkDriver) -> AsyncIterator[None]:
    runtime = Runtime(store, [LinkResolversController(driver, 0.5)], backoff=FAST)
    runtime.start()
    try:
        yield
    finally:
        await runtime.stop()


def test_the_controller_waits_for_the_link_applies_repairs_and_delete_reverts(
    driver: ResolvedLinkDriver, resolved: Resolved
) -> None:
    """The spec waits for its link, converges when the link appears (a link change), is
    repaired after resolved forgot it (the resync), and deleting it reverts the link."""
    spec = Pointer(SPECS.namespace, SPECS.type, LINK)
    status = Pointer(STATUSES.namespace, STATUSES.type, LINK)
    indexes: list[int] = []

    async def scenario() -> None:
        store = Store()
        async with running(store, driver):
            await store.create(Resource(Metadata(SPECS.namespace, SPECS.type, LINK), to_spec(SPEC)))

            async def waiting() -> bool:
                condition = await condition_of(store, CONTROLLER, LINK, kind=SPECS)
                return condition is not None and condition.reason == "WaitingForLink"

            async def ready() -> bool:
                condition = await condition_of(store, CONTROLLER, LINK, kind=SPECS)
                return condition is not None and condition.ready

            await eventually(waiting, within=WITHIN)
            indexes.append(await asyncio.to_thread(add_veth, resolved, LINK))
            await eventually(ready, within=WITHIN)
            reported = from_spec(LinkResolverStatus, (await store.get(status)).spec)
            assert reported == APPLIED.model_copy(update={"index": indexes[0]})

            await asyncio.to_thread(resolved.revert_link, indexes[0])  # behind cosid's back

            async def repaired() -> bool:
                return "192 0 2 53" in await asyncio.to_thread(resolved.link_dns, indexes[0])

            await eventually(repaired, within=WITHIN)
            await store.teardown_and_destroy(spec)

    run_inside(resolved, scenario())

    said = resolved.link_dns(indexes[0])
    assert "a(iay) 0" in said
    assert "a(sb) 0" in said
