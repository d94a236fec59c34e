"""The systemd mount driver on the guest: cosid asks the real systemd (PID 1) for transient
mount units over the real system bus; the result is checked from outside cosid with
`systemctl` and `findmnt` through the agent.

cosid runs with ``domains.mounts.driver: systemd`` for this module only (`systemd_driver`),
and goes back to the example config after it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cosid.drivers.mounts.systemd import unit_name
from cosid.resources import mounts
from tests.support.typed import TypedStub, typed_stub_at
from tests.vm.initramfs import CHECKOUT_DIRECTORY
from tests.vm.machine import BOOT_TIMEOUT, Machine, VmError

pytestmark = pytest.mark.timeout(900)

WAIT = 120.0
"""Deadline of an Apply with wait: TCG is slow, and the first calls import lazily."""
TARGET = "/srv/cosid-systemd"
UNIT = unit_name(TARGET)
SYSTEMD_DRIVER: dict[str, object] = {"domains": {"mounts": {"driver": "systemd"}}}
SPEC = {"target": TARGET, "fstype": "tmpfs", "mkdir": True, "options": {"size": "8m"}}


@pytest.fixture(scope="module")
def systemd_driver(vm: Machine) -> Iterator[Machine]:
    reconfigure(vm, SYSTEMD_DRIVER)
    try:
        yield vm
    finally:
        reconfigure(vm, {})


def reconfigure(vm: Machine, settings: dict[str, object]) -> None:
    """`Machine.reconfigure`, with cosid's last words from the journal when it fails."""
    try:
        vm.reconfigure(settings)
    except VmError as error:
        journal = vm.run("journalctl", "-u", "cosid.service", "-n", "40", "--no-pager").stdout
        raise VmError(f"{error}\n--- journal ---\n{journal}") from None


def mounted_at(vm: Machine, target: str) -> list[dict[str, Any]]:
    """The mounts at `target` as findmnt in the guest shows them (none: [])."""
    found = vm.run("findmnt", "-J", "--mountpoint", target)
    if found.returncode != 0:
        return []
    filesystems: list[dict[str, Any]] = json.loads(found.stdout)["filesystems"]
    return filesystems


def unit_state(vm: Machine) -> str:
    return vm.run("systemctl", "is-active", UNIT).stdout.strip()


def eventually(check: Any, what: str, within: float = 60.0) -> None:
    """Poll the guest: cosid reacts at once, but each look through the agent takes a while."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        time.sleep(0.5)


async def apply(vm: Machine, stub: TypedStub) -> Any:
    [view] = (await stub.apply(stub.item(SPEC), wait=True, deadline=WAIT)).items
    return view


async def test_apply_starts_a_transient_unit_and_delete_stops_it(systemd_driver: Machine) -> None:
    vm = systemd_driver
    async with typed_stub_at(vm.grpc_target, mounts.API) as stub:
        view = await apply(vm, stub)
        assert view.status.matches
        assert vm.check("systemctl", "is-active", UNIT).strip() == "active"
        transient = vm.check("systemctl", "show", "-p", "Transient", "--value", UNIT)
        assert transient.strip() == "yes"
        [found] = mounted_at(vm, TARGET)
        assert found["fstype"] == "tmpfs"
        assert "size=8192k" in found["options"]

        await stub.delete(TARGET, WAIT)

    assert mounted_at(vm, TARGET) == []
    assert unit_state(vm) in ("inactive", "unknown")
    assert vm.run("test", "-e", TARGET).returncode == 1, "the directory mkdir made is removed"


async def test_an_external_umount_is_repaired(systemd_driver: Machine) -> None:
    vm = systemd_driver
    async with typed_stub_at(vm.grpc_target, mounts.API) as stub:
        await apply(vm, stub)
        vm.check("umount", TARGET)

        eventually(
            lambda: unit_state(vm) == "active" and len(mounted_at(vm, TARGET)) == 1,
            "the unit is active and the tmpfs mounted again",
        )

        await stub.delete(TARGET, WAIT)
    assert mounted_at(vm, TARGET) == []


async def test_a_spec_whose_unit_is_gone_is_mounted_again_before_ready(
    systemd_driver: Machine,
) -> None:
    """What a reboot does to a transient unit (it is gone, and its mount), done by hand while
    cosid is stopped: `systemctl start` of the Type=notify service returns at READY=1, by
    which time cosid has started the unit again."""
    vm = systemd_driver
    async with typed_stub_at(vm.grpc_target, mounts.API) as stub:
        await apply(vm, stub)
    vm.check("systemctl", "stop", "cosid.service", timeout=BOOT_TIMEOUT)
    vm.check("systemctl", "stop", UNIT)
    assert mounted_at(vm, TARGET) == []

    vm.check("systemctl", "start", "cosid.service", timeout=BOOT_TIMEOUT)

    assert unit_state(vm) == "active"
    assert len(mounted_at(vm, TARGET)) == 1
    async with typed_stub_at(vm.grpc_target, mounts.API) as stub:
        await stub.delete(TARGET, WAIT)
    assert mounted_at(vm, TARGET) == []


async def test_a_mount_systemd_already_has_a_unit_for_fails_with_unit_exists(
    systemd_driver: Machine,
) -> None:
    """A mount made by hand is one systemd tracks with a unit of its own (not transient): cosid
    cannot start one for the same target, and says so; deleting the spec leaves that mount."""
    vm = systemd_driver
    target = "/srv/cosid-by-hand"
    vm.check("mkdir", "-p", target)
    vm.check("mount", "-t", "ramfs", "byhand", target)
    try:
        async with typed_stub_at(vm.grpc_target, mounts.API) as stub:
            spec = stub.item({"target": target, "fstype": "tmpfs"})
            await stub.apply(spec)

            async def reason() -> str:
                return str((await stub.get(target)).condition.reason)

            deadline = time.monotonic() + 60
            while await reason() != "UnitExists":
                if time.monotonic() > deadline:
                    raise VmError(f"the condition says {await reason()!r}, not UnitExists")
                await asyncio.sleep(0.5)
            await stub.delete(target, WAIT)
        [found] = mounted_at(vm, target)
        assert found["fstype"] == "ramfs"
    finally:
        vm.run("umount", target)
        vm.run("rmdir", target)


async def test_mounts_reach_the_host_from_a_confined_cosid(systemd_driver: Machine) -> None:
    """With systemd/cosid-confined.conf, cosid has a mount namespace of its own; the systemd
    driver's mounts are PID 1's, so the node sees them, and cosid sees them too (its namespace
    is a slave of the node's): its status matches, and delete unmounts them."""
    vm = systemd_driver
    target = "/srv/cosid-confined"
    drop_in = "/etc/systemd/system/cosid.service.d/confined.conf"
    vm.check("mkdir", "-p", target, drop_in.rsplit("/", 1)[0])
    vm.check("cp", f"{CHECKOUT_DIRECTORY}/systemd/cosid-confined.conf", drop_in)
    vm.check("systemctl", "daemon-reload")
    try:
        reconfigure(vm, SYSTEMD_DRIVER)
        cosid = vm.check("systemctl", "show", "-p", "MainPID", "--value", "cosid.service").strip()
        assert vm.check("readlink", f"/proc/{cosid}/ns/mnt") != vm.check(
            "readlink", "/proc/1/ns/mnt"
        ), "the drop-in gives cosid a mount namespace of its own"
        async with typed_stub_at(vm.grpc_target, mounts.API) as stub:
            spec = stub.item({"target": target, "fstype": "tmpfs"})
            [view] = (await stub.apply(spec, wait=True, deadline=WAIT)).items
            assert view.status.matches
            [found] = mounted_at(vm, target)
            assert found["fstype"] == "tmpfs"
            await stub.delete(target, WAIT)
        assert mounted_at(vm, target) == []
    finally:
        vm.run("rm", "-f", drop_in)
        vm.run("systemctl", "daemon-reload")
        reconfigure(vm, SYSTEMD_DRIVER)
        vm.run("rmdir", target)
