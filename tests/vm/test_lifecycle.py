"""cosid's life under systemd on the guest: a restart of the unit keeps everything, a reboot
re-applies every spec before READY=1, and SIGKILL in the middle of applying loses no spec
an Apply was answered for."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest

from cosid.resources import links, modules, motd, sysctl
from tests.support.typed import typed_stub_at
from tests.vm.machine import BOOT_TIMEOUT, Machine, VmError

pytestmark = pytest.mark.timeout(900)

WAIT = 120.0
FORWARD = "net.ipv4.ip_forward"
"""0 on every boot of the guest, so a 1 after a reboot is cosid's doing."""


def main_pid(vm: Machine) -> str:
    return vm.check("systemctl", "show", "-p", "MainPID", "--value", "cosid.service").strip()


def wait_restarted(vm: Machine, old_pid: str) -> None:
    """Wait until systemd has started cosid again (another main process) and it is active."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while main_pid(vm) in (old_pid, "0"):
        if time.monotonic() > deadline:
            raise VmError(f"cosid was not restarted\n{vm.tail()}")
        time.sleep(0.5)
    vm.wait_active("cosid.service")


def link_names(vm: Machine) -> set[str]:
    return {link["ifname"] for link in json.loads(vm.check("ip", "-j", "link", "show"))}


async def test_restart_of_the_unit_keeps_everything(vm: Machine) -> None:
    async with typed_stub_at(vm.grpc_target, sysctl.API) as stub:
        await stub.apply(stub.item({"key": FORWARD, "value": "1"}), wait=True, deadline=WAIT)
    before = main_pid(vm)
    vm.check("systemctl", "restart", "cosid.service", timeout=BOOT_TIMEOUT)
    wait_restarted(vm, before)
    assert vm.check("sysctl", "-n", FORWARD).strip() == "1"
    async with typed_stub_at(vm.grpc_target, sysctl.API) as stub:
        kept = await stub.get(FORWARD)
        assert kept.spec.value == "1"
        assert kept.condition.ready
        await stub.delete(FORWARD, WAIT)
    assert vm.check("sysctl", "-n", FORWARD).strip() == "0"


async def test_reboot_reapplies_every_spec_before_ready(vm: Machine) -> None:
    """cosid-vm-probe.service, ordered after cosid.service (Type=notify), records the node
    when it starts: that is, right after READY=1."""
    async with typed_stub_at(vm.grpc_target, sysctl.API) as stub:
        await stub.apply(stub.item({"key": FORWARD, "value": "1"}), wait=True, deadline=WAIT)
    async with typed_stub_at(vm.grpc_target, motd.API) as stub:
        text = stub.item({"text": "applied before READY\n"}, id=motd.MOTD_ID)
        await stub.apply(text, wait=True, deadline=WAIT)
    vm.reboot()
    assert vm.check("cat", "/run/cosid-vm-probe") == "1\napplied before READY\n"
    async with typed_stub_at(vm.grpc_target, sysctl.API) as stub:
        await stub.delete(FORWARD, WAIT)
    async with typed_stub_at(vm.grpc_target, motd.API) as stub:
        await stub.delete(motd.MOTD_ID, WAIT)
    assert vm.check("sysctl", "-n", FORWARD).strip() == "0"


async def test_sigkill_mid_apply_loses_no_accepted_spec(vm: Machine) -> None:
    """Links are applied one Apply each while cosid is killed: every Apply that was answered
    is, after systemd restarts cosid, a stored spec and a link in the kernel."""
    async with typed_stub_at(vm.grpc_target, modules.API) as stub:
        await stub.apply(stub.item({"name": "dummy"}), wait=True, deadline=WAIT)
    names = [f"vmkill{number}" for number in range(40)]
    accepted: list[str] = []
    some_accepted = asyncio.Event()
    before = main_pid(vm)

    async def apply_all() -> None:
        async with typed_stub_at(vm.grpc_target, links.API) as stub:
            for name in names:
                try:
                    await stub.apply(stub.item({"name": name, "kind": "dummy"}), deadline=WAIT)
                except grpc.aio.AioRpcError:
                    continue  # not answered: cosid died under it (or before it)
                accepted.append(name)
                if len(accepted) == 10:
                    some_accepted.set()

    async def kill_when_some_are_accepted() -> None:
        await some_accepted.wait()
        await asyncio.to_thread(vm.check, "systemctl", "kill", "-s", "KILL", "cosid.service")

    await asyncio.gather(apply_all(), kill_when_some_are_accepted())
    await asyncio.to_thread(wait_restarted, vm, before)
    async with typed_stub_at(vm.grpc_target, links.API) as stub:
        stored = {item.metadata.id for item in await stub.list()}
        assert set(accepted) <= stored
        # the same specs again change nothing: the wait is for the restarted cosid to apply them
        specs = [stub.item({"name": name, "kind": "dummy"}) for name in accepted]
        await stub.apply(*specs, wait=True, deadline=WAIT)
        assert set(accepted) <= link_names(vm)
        for name in stored & set(names):
            await stub.delete(name, WAIT)
    async with typed_stub_at(vm.grpc_target, modules.API) as stub:
        await stub.delete("dummy", WAIT)
    assert not set(names) & link_names(vm)
