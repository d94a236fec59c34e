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
from cosid.resources import dns
from tests.support.typed import typed_stub_at
from tests.vm.machine import Machine

pytestmark = pytest.mark.timeout(600)

WAIT = 120.0
"""Deadline of an Apply with wait: TCG is slow, and each apply restarts resolved."""
WAIT_TIMEOUT = 100.0
SPEC = {"nameservers": ["192.0.2.53", "2001:DB8::53"], "search": ["Lab.Example.com"]}


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
