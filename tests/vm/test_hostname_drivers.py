"""The hostname through both drivers in the guest: the kernel driver (sethostname(2) and
/etc/hostname) and the hostnamed driver (systemd-hostnamed, bus-activated), each checked with
``hostname``, ``hostnamectl --static`` and /etc/hostname from outside cosid, and undone by
Delete. cosid is restarted with each driver and put back to its configuration at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cosid.resources import hostname
from tests.support.typed import typed_stub_at
from tests.vm.machine import Machine

pytestmark = pytest.mark.timeout(600)

WAIT = 120.0
"""Deadline of an Apply with wait: TCG is slow, and the first calls import lazily."""


def names(vm: Machine) -> tuple[str, str, str]:
    """The kernel's hostname, hostnamed's static one, and /etc/hostname, as the guest says."""
    return (
        vm.check("hostname").strip(),
        vm.check("hostnamectl", "--static").strip(),
        vm.check("cat", "/etc/hostname").strip(),
    )


@pytest.fixture(params=["kernel", "hostnamed"])
def driver(vm: Machine, request: pytest.FixtureRequest) -> Iterator[str]:
    vm.reconfigure({"domains": {"hostname": {"driver": request.param}}})
    try:
        yield request.param
    finally:
        vm.reconfigure({})


async def test_hostname_is_set_and_restored(vm: Machine, driver: str) -> None:
    before = names(vm)
    wanted = f"node-{driver}"
    async with typed_stub_at(vm.grpc_target, hostname.API) as stub:
        spec = stub.item({"hostname": wanted}, id=hostname.HOSTNAME_ID)
        await stub.apply(spec, wait=True, deadline=WAIT)
        assert names(vm) == (wanted, wanted, wanted)
        await stub.delete(hostname.HOSTNAME_ID, WAIT)
    assert names(vm) == before
