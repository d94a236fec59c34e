"""DNS through systemd-resolved in the guest: the `resolved` driver's drop-in, resolved
restarted by systemd to read it, and what ``resolvectl`` says (not cosid's code).

systemd-resolved is unpacked in the guest's packages layer but not enabled: the test starts
it, restarts cosid with ``domains.dns.driver: resolved`` (its start-up check needs resolved on
the bus), and puts cosid's configuration back at the end, whatever happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from cosid.drivers.dns.resolved import DROP_IN_PATH
from cosid.resources import dns, link_resolvers, links, modules
from tests.support.typed import typed_stub_at
from tests.vm.machine import Machine

pytestmark = pytest.mark.timeout(600)

WAIT = 120.0
"""Deadline of an Apply with wait: TCG is slow, and each apply restarts resolved."""
WAIT_TIMEOUT = 100.0
SPEC = {"nameservers": ["192.0.2.53", "2001:DB8::53"], "search": ["Lab.Example.com"]}
LINK = "vmdns0"
LINK_SPEC = {
    "link": LINK,
    "servers": ["192.0.2.54", "2001:DB8::54"],
    "domains": ["Lab.Example.com", "~Corp.Example"],
    "default_route": False,
}


def global_dns(vm: Machine) -> tuple[str, str]:
    """resolvectl's global servers and search domains."""
    return (
        vm.check("resolvectl", "dns").splitlines()[0],
        vm.check("resolvectl", "domain").splitlines()[0],
    )


@pytest.fixture
def resolved(vm: Machine) -> Iterator[None]:
    vm.check("systemctl", "start", "systemd-resolved.service")
    vm.reconfigure({"domains": {"dns": {"driver": "resolved"}}})
    try:
        yield
    finally:
        vm.reconfigure({})


async def test_dns_through_resolved_and_delete_restores(vm: Machine, resolved: None) -> None:
    before = global_dns(vm)
    async with typed_stub_at(vm.grpc_target, dns.API) as stub:
        spec = stub.item(SPEC, id=dns.RESOLVER_ID)
        [applied] = (
            await stub.apply(spec, wait=True, wait_timeout=WAIT_TIMEOUT, deadline=WAIT)
        ).items
        assert global_dns(vm) == ("Global: 192.0.2.53 2001:db8::53", "Global: lab.example.com")
        assert list(applied.status.nameservers) == ["192.0.2.53", "2001:db8::53"]
        assert applied.status.file == DROP_IN_PATH
        assert "DNS=192.0.2.53 2001:db8::53" in vm.check("cat", DROP_IN_PATH)

        vm.check("sh", "-c", f"echo '[Resolve]' > {DROP_IN_PATH}")  # drift: undone (inotify)
        for _ in range(120):
            if "DNS=192.0.2.53" in vm.check("cat", DROP_IN_PATH):
                break
            await asyncio.sleep(0.5)
        assert "DNS=192.0.2.53 2001:db8::53" in vm.check("cat", DROP_IN_PATH)

        await stub.delete(dns.RESOLVER_ID, WAIT)
    assert vm.run("test", "-e", DROP_IN_PATH).returncode == 1
    assert global_dns(vm) == before


def link_dns(vm: Machine) -> tuple[str, str]:
    """resolvectl's servers and domains of the link, without the "Link N (vmdns0):" label."""
    return (
        vm.check("resolvectl", "dns", LINK).partition("):")[2].strip(),
        vm.check("resolvectl", "domain", LINK).partition("):")[2].strip(),
    )


async def test_per_link_dns_is_applied_repaired_and_reverted(vm: Machine, resolved: None) -> None:
    """A dummy link (its module loaded by cosid) gets per-link DNS; resolved forgetting it
    (``resolvectl revert``) is repaired at the next link change; deleting the spec reverts."""
    async with typed_stub_at(vm.grpc_target, modules.API) as stub:
        await stub.apply(stub.item({"name": "dummy"}), wait=True, deadline=WAIT)
    async with (
        typed_stub_at(vm.grpc_target, links.API) as link_stub,
        typed_stub_at(vm.grpc_target, link_resolvers.API) as stub,
    ):
        await stub.apply(stub.item(LINK_SPEC), deadline=WAIT)  # waits for its link
        link = link_stub.item({"name": LINK, "kind": "dummy", "up": True})
        await link_stub.apply(link, wait=True, deadline=WAIT)
        [applied] = (
            await stub.apply(
                stub.item(LINK_SPEC), wait=True, wait_timeout=WAIT_TIMEOUT, deadline=WAIT
            )
        ).items
        wanted = ("192.0.2.54 2001:db8::54", "lab.example.com ~corp.example")
        assert link_dns(vm) == wanted
        assert list(applied.status.domains) == ["lab.example.com", "~corp.example"]
        assert applied.status.default_route is False

        vm.check("resolvectl", "revert", LINK)  # resolved forgets, as on a restart
        vm.check("ip", "link", "set", LINK, "down")  # a link change: cosid looks again
        for _ in range(120):
            if link_dns(vm) == wanted:
                break
            await asyncio.sleep(0.5)
        assert link_dns(vm) == wanted

        await stub.delete(LINK, WAIT)
        assert link_dns(vm) == ("", "")
        await link_stub.delete(LINK, WAIT)
    async with typed_stub_at(vm.grpc_target, modules.API) as stub:
        await stub.delete("dummy", WAIT)
