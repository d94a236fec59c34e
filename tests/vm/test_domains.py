"""Every domain on the guest's real kernel, driven through cosid's gRPC API from the host and
checked from outside cosid through the agent (`sysctl`, /proc/modules, `ip -j`, `findmnt`).

What the development machine's kernel cannot show is proven here: real module loading with
parameters and unloading, the link kinds it lacks (dummy, vlan, bond), mounts in the node's
own mount namespace under systemd.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cosid.resources import hostname, links, modules, motd, mounts, sysctl
from tests.support.typed import typed_stub_at
from tests.vm.machine import Machine

pytestmark = pytest.mark.timeout(600)

MOTD = "/etc/motd"
VLAN = {"id": 100, "parent": "vmdummy0"}
WAIT = 120.0
"""Deadline of an Apply with wait: TCG is slow, and the first calls import lazily."""


def links_named(vm: Machine, *names: str) -> dict[str, Any]:
    found = json.loads(vm.check("ip", "-j", "-d", "link", "show"))
    return {link["ifname"]: link for link in found if link["ifname"] in names}


def loaded_modules(vm: Machine) -> set[str]:
    return {line.split()[0] for line in vm.check("cat", "/proc/modules").splitlines()}


async def test_sysctl_is_set_and_restored(vm: Machine) -> None:
    key = "net.ipv4.ip_forward"
    before = vm.check("sysctl", "-n", key).strip()
    wanted = "0" if before == "1" else "1"
    async with typed_stub_at(vm.grpc_target, sysctl.API) as stub:
        await stub.apply(stub.item({"key": key, "value": wanted}), wait=True, deadline=WAIT)
        assert vm.check("sysctl", "-n", key).strip() == wanted
        await stub.delete(key, WAIT)
    assert vm.check("sysctl", "-n", key).strip() == before


async def test_module_loads_with_parameters_and_unloads(vm: Machine) -> None:
    async with typed_stub_at(vm.grpc_target, modules.API) as stub:
        spec = stub.item({"name": "dummy", "parameters": {"numdummies": "2"}})
        await stub.apply(spec, wait=True, deadline=WAIT)
        assert "dummy" in loaded_modules(vm)
        # numdummies has no sysfs file (its mode is 0): the two links it made show it
        assert set(links_named(vm, "dummy0", "dummy1")) == {"dummy0", "dummy1"}
        await stub.delete("dummy", WAIT)
    assert "dummy" not in loaded_modules(vm)


async def test_link_kinds_of_the_debian_kernel(vm: Machine) -> None:
    """dummy, bond and vlan: the kinds the development kernel lacks (their modules are loaded
    by the kernel on demand, through the guest's modprobe-less request_module: so cosid loads
    them first)."""
    async with typed_stub_at(vm.grpc_target, modules.API) as stub:
        for module in ("dummy", "bonding", "8021q"):
            await stub.apply(stub.item({"name": module}), wait=True, deadline=WAIT)
    async with typed_stub_at(vm.grpc_target, links.API) as stub:
        specs = [
            stub.item({"name": "vmdummy0", "kind": "dummy", "mtu": 1400}),
            stub.item({"name": "vmbond0", "kind": "bond", "bond": {"mode": "active-backup"}}),
            stub.item({"name": "vmdummy1", "kind": "dummy", "master": "vmbond0", "up": True}),
            stub.item({"name": "vmvlan100", "kind": "vlan", "vlan": VLAN}),
        ]
        await stub.apply(*specs, wait=True, deadline=WAIT)
        found = links_named(vm, "vmdummy0", "vmbond0", "vmdummy1", "vmvlan100")
        assert found["vmdummy0"]["mtu"] == 1400
        assert found["vmbond0"]["linkinfo"]["info_data"]["mode"] == "active-backup"
        assert found["vmdummy1"]["master"] == "vmbond0"
        assert found["vmvlan100"]["linkinfo"]["info_data"]["id"] == 100
        for name in ("vmvlan100", "vmdummy1", "vmbond0", "vmdummy0"):
            await stub.delete(name, WAIT)
    assert links_named(vm, "vmdummy0", "vmbond0", "vmdummy1", "vmvlan100") == {}
    async with typed_stub_at(vm.grpc_target, modules.API) as stub:
        for module in ("8021q", "bonding", "dummy"):
            await stub.delete(module, WAIT)
    assert not {"8021q", "bonding", "dummy"} & loaded_modules(vm)


async def test_tmpfs_mount_and_its_removal(vm: Machine) -> None:
    target = "/srv/cosid-vm-test"
    async with typed_stub_at(vm.grpc_target, mounts.API) as stub:
        spec = {"target": target, "fstype": "tmpfs", "mkdir": True, "options": {"size": "8m"}}
        await stub.apply(stub.item(spec), wait=True, deadline=WAIT)
        [found] = json.loads(vm.check("findmnt", "-J", target))["filesystems"]
        assert found["fstype"] == "tmpfs"
        assert "size=8192k" in found["options"]
        await stub.delete(target, WAIT)
    assert vm.run("findmnt", target).returncode == 1


async def test_hostname_through_the_kernel_driver(vm: Machine) -> None:
    before = vm.check("hostname").strip()
    async with typed_stub_at(vm.grpc_target, hostname.API) as stub:
        spec = stub.item({"hostname": "node-7"}, id=hostname.HOSTNAME_ID)
        await stub.apply(spec, wait=True, deadline=WAIT)
        assert vm.check("hostname").strip() == "node-7"
        assert vm.check("cat", "/etc/hostname").strip() == "node-7"
        await stub.delete(hostname.HOSTNAME_ID, WAIT)
    assert vm.check("hostname").strip() == before


async def test_motd_is_written_and_restored(vm: Machine) -> None:
    before = vm.check("cat", MOTD)
    async with typed_stub_at(vm.grpc_target, motd.API) as stub:
        spec = stub.item({"text": "managed by cosid\n"}, id=motd.MOTD_ID)
        await stub.apply(spec, wait=True, deadline=WAIT)
        assert vm.check("cat", MOTD) == "managed by cosid\n"
        await stub.delete(motd.MOTD_ID, WAIT)
    assert vm.check("cat", MOTD) == before
