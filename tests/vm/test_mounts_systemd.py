"""The systemd mount driver on the guest: cosid asks the real systemd (PID 1) for transient
mount units over the real system bus; the result is checked from outside cosid with
`systemctl` and `findmnt` through the agent.

cosid runs the shipped, hardened unit (a mount namespace of its own) with the example config's
``domains.mounts.namespace: init``; with ``domains.mounts.driver: systemd`` for the tests that
ask for it (`systemd_driver`), going back to the example config after them, and with the
example config's kernel driver for the last test.
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
from tests.vm.machine import BOOT_TIMEOUT, Machine, VmError

pytestmark = pytest.mark.timeout(900)

WAIT = 120.0
"""Deadline of an Apply with wait: TCG is slow, and the first calls import lazily."""
TARGET = "/srv/cosid-systemd"
UNIT = unit_name(TARGET)
SYSTEMD_DRIVER: dict[str, object] = {
    "domains": {"mounts": {"driver": "systemd", "namespace": "init"}}
}
"""The systemd driver, the rest of the mounts settings as the example config has them
(`Machine.reconfigure` replaces its whole `domains`)."""
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


async def test_a_hardened_cosid_changes_flags_in_place_on_the_node(
    systemd_driver: Machine,
) -> None:
    """The shipped unit gives cosid a mount namespace of its own; systemd's mounts are PID 1's,
    and so are cosid's remounts and its view of the table (``namespace: init``): a flags change
    in place reaches the node, cosid's status matches, and delete unmounts."""
    vm = systemd_driver
    target = "/srv/cosid-confined"
    vm.check("mkdir", "-p", target)
    try:
        assert cosid_namespace(vm) != vm.check("readlink", "/proc/1/ns/mnt")
        async with typed_stub_at(vm.grpc_target, mounts.API) as stub:
            spec = {"target": target, "fstype": "tmpfs"}
            [view] = (await stub.apply(stub.item(spec), wait=True, deadline=WAIT)).items
            assert view.status.matches
            [found] = mounted_at(vm, target)
            assert found["fstype"] == "tmpfs"

            read_only = {**spec, "options": {"ro": True}}
            [view] = (await stub.apply(stub.item(read_only), wait=True, deadline=WAIT)).items
            assert view.status.matches
            [found] = mounted_at(vm, target)
            assert "ro" in found["options"].split(",")
            active = vm.run("systemctl", "is-active", unit_name(target)).stdout.strip()
            assert active == "active", "the unit's own mount, remounted in place"

            await stub.delete(target, WAIT)
        assert mounted_at(vm, target) == []
    finally:
        vm.run("umount", target)
        vm.run("rmdir", target)


def cosid_namespace(vm: Machine) -> str:
    """The mount namespace cosid.service runs in."""
    cosid = vm.check("systemctl", "show", "-p", "MainPID", "--value", "cosid.service").strip()
    return vm.check("readlink", f"/proc/{cosid}/ns/mnt")


async def test_the_shipped_unit_mounts_on_the_node_with_the_kernel_driver(vm: Machine) -> None:
    """The shipped unit and example config (hardened; the kernel driver in PID 1's mount
    namespace): a tmpfs applied is the node's, a change to read-only is made in place, and
    delete unmounts it and removes the directory mkdir made."""
    reconfigure(vm, {})
    target = "/srv/cosid-kernel"
    assert cosid_namespace(vm) != vm.check("readlink", "/proc/1/ns/mnt")
    try:
        async with typed_stub_at(vm.grpc_target, mounts.API) as stub:
            spec = {"target": target, "fstype": "tmpfs", "mkdir": True, "options": {"size": "8m"}}
            [view] = (await stub.apply(stub.item(spec), wait=True, deadline=WAIT)).items
            assert view.status.matches
            [found] = mounted_at(vm, target)
            assert (found["fstype"], found["source"]) == ("tmpfs", "tmpfs")
            assert "size=8192k" in found["options"]

            read_only = {**spec, "options": {"size": "8m", "ro": True}}
            [view] = (await stub.apply(stub.item(read_only), wait=True, deadline=WAIT)).items
            assert view.status.matches
            [changed] = mounted_at(vm, target)
            assert "ro" in changed["options"].split(",")

            await stub.delete(target, WAIT)
        assert mounted_at(vm, target) == []
        assert vm.run("test", "-e", target).returncode == 1, "the directory mkdir made is removed"
    finally:
        vm.run("umount", target)
        vm.run("rmdir", target)
