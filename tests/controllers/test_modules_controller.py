"""The modules controller under the real runtime and store.

Most tests load real Debian modules (see `tests.drivers.modules_fixtures`) into a
`FakeKernel`, handed to the driver as its system calls: this machine's kernel has no module
support, so the real finit_module cannot succeed here, and loading modules into a host kernel
is no test's business (the VM issue proves real loading). The first tests run against this
machine's real kernel, /proc and /sys.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cosid.controllers.modules import ModulesController
from cosid.drivers.modules.kernel import KernelModuleDriver
from cosid.resources.document import from_spec, to_spec
from cosid.resources.modules import (
    CONTROLLER,
    ORIGINALS,
    SPECS,
    STATUSES,
    KernelModuleOriginal,
    KernelModuleSpec,
    KernelModuleStatus,
)
from cosid.runtime.conditions import Condition
from cosid.runtime.runtime import Runtime
from cosid.state.errors import NotFoundError
from cosid.state.resource import Kind, Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.drivers.modules_fixtures import FakeKernel, builtin_module_here, debian_modules
from tests.runtime.conftest import FAST, condition_of, eventually

VLAN = ("llc", "mrp", "stp", "garp", "8021q")
"""8021q and what it needs, in the order they load."""


def spec(name: str, **parameters: str) -> Resource:
    model = KernelModuleSpec(name=name, parameters=parameters)
    return Resource(Metadata(SPECS.namespace, SPECS.type, model.id), to_spec(model))


def at(kind: Kind, item_id: str) -> Pointer:
    return Pointer(kind.namespace, kind.type, item_id)


async def status(store: Store, name: str) -> KernelModuleStatus:
    return from_spec(KernelModuleStatus, (await store.get(at(STATUSES, name))).spec)


async def originals(store: Store) -> dict[str, bool]:
    found = await store.list(ORIGINALS)
    return {r.metadata.id: from_spec(KernelModuleOriginal, r.spec).loaded for r in found}


async def ready(store: Store, name: str, version: int = 1) -> None:
    async def check() -> bool:
        condition = await condition_of(store, CONTROLLER, name, kind=SPECS)
        return condition is not None and condition.ready and condition.observed_version >= version

    await eventually(check)


async def failed(store: Store, name: str, reason: str) -> Condition:
    async def check() -> bool:
        condition = await condition_of(store, CONTROLLER, name, kind=SPECS)
        return condition is not None and condition.reason == reason

    await eventually(check)
    condition = await condition_of(store, CONTROLLER, name, kind=SPECS)
    assert condition is not None
    return condition


def start(store: Store, driver: KernelModuleDriver) -> Runtime:
    started = Runtime(store, [ModulesController(driver, None)], backoff=FAST)
    started.start()
    return started


@pytest.fixture
def store() -> Store:
    return Store()


# --- this machine's kernel: no module support ----------------------------------------------


@pytest.mark.skipif(os.path.exists("/proc/modules"), reason="this kernel supports modules")
async def test_this_kernel_has_its_built_in_modules_and_can_load_no_other(
    store: Store, tmp_path: Path
) -> None:
    builtin = builtin_module_here()
    runtime = start(store, KernelModuleDriver(tmp_path))
    try:
        await store.create(spec("dummy"))
        await store.create(spec(builtin))

        await ready(store, builtin)
        shown = await status(store, builtin)
        assert (shown.module, shown.state, shown.loaded_by_cosid) == (builtin, "builtin", False)
        assert shown.parameters  # read from /sys/module/<name>/parameters

        condition = await failed(store, "dummy", "NoModuleSupport")
        assert not condition.ready
        assert "the kernel has no module support (no /proc/modules)" in condition.message
        assert await status(store, "dummy") == KernelModuleStatus(name="dummy", state="absent")

        await store.teardown_and_destroy(at(SPECS, "dummy"))
        await store.teardown_and_destroy(at(SPECS, builtin))
        assert await originals(store) == {}
    finally:
        await runtime.stop()


# --- a kernel that loads modules -----------------------------------------------------------


class Machine:
    """A node root holding the Debian modules, and a kernel that loads them."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "node"
        debian_modules().install(self.root)
        self.kernel = FakeKernel(tmp_path / "kernel")
        self.driver = KernelModuleDriver(
            self.root,
            kernel=self.kernel.root,
            release=debian_modules().release,
            syscalls=self.kernel,
        )

    @property
    def loaded(self) -> list[str]:
        return list(self.kernel.modules)


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


@pytest.fixture
async def runtime(store: Store, machine: Machine) -> AsyncIterator[Runtime]:
    started = start(store, machine.driver)
    yield started
    await started.stop()


async def test_applying_loads_the_dependencies_then_the_module(
    store: Store, machine: Machine, runtime: Runtime
) -> None:
    await store.create(spec("8021q", gvrp="1"))
    await ready(store, "8021q")

    assert machine.loaded == list(VLAN)
    assert machine.kernel.calls[-1].parameters == "gvrp=1"
    assert await status(store, "8021q") == KernelModuleStatus(
        name="8021q",
        module="8021q",
        state="live",
        refcount=0,
        parameters={"gvrp": "1"},
        dependencies=VLAN[:-1],
        file="kernel/net/8021q/8021q.ko.xz",
        loaded_by_cosid=True,
    )
    assert await originals(store) == dict.fromkeys(VLAN, False)
    assert runtime.metrics()[CONTROLLER].applied == 1


async def test_an_alias_loads_its_module(store: Store, machine: Machine, runtime: Runtime) -> None:
    await store.create(spec("rtnl-link-bond"))
    await ready(store, "rtnl_link_bond")
    assert machine.loaded == ["tls", "bonding"]
    shown = await status(store, "rtnl_link_bond")
    assert (shown.name, shown.module, shown.dependencies) == ("rtnl_link_bond", "bonding", ("tls",))


async def test_a_module_loaded_before_cosid_is_left_loaded(
    store: Store, machine: Machine, runtime: Runtime
) -> None:
    machine.kernel.load("tls")
    machine.kernel.load("bonding", depends=("tls",), max_bonds="1")

    await store.create(spec("bonding", max_bonds="2"))
    await ready(store, "bonding")
    assert machine.kernel.calls == []
    shown = await status(store, "bonding")
    assert (shown.loaded_by_cosid, shown.parameters) == (False, {"max_bonds": "1"})
    assert runtime.metrics()[CONTROLLER].applied == 0

    await store.teardown_and_destroy(at(SPECS, "bonding"))
    assert machine.loaded == ["tls", "bonding"]
    assert machine.kernel.unloads == []
    assert await originals(store) == {}


async def test_a_module_unloaded_behind_cosids_back_is_loaded_again(
    store: Store, machine: Machine, runtime: Runtime
) -> None:
    await store.create(spec("dummy"))
    await ready(store, "dummy")

    machine.kernel.delete_module(b"dummy", os.O_NONBLOCK)  # rmmod dummy
    runtime.refresh()

    async def repaired() -> bool:
        return runtime.metrics()[CONTROLLER].repairs == 1

    await eventually(repaired)
    assert machine.loaded == ["dummy"]
    assert (await status(store, "dummy")).loaded_by_cosid


async def test_delete_unloads_what_cosid_loaded_and_nothing_another_spec_needs(
    store: Store, machine: Machine, runtime: Runtime
) -> None:
    machine.kernel.load("llc")  # loaded before cosid: stays
    await store.create(spec("8021q"))
    await store.create(spec("bridge"))
    await ready(store, "8021q")
    await ready(store, "bridge")
    assert set(machine.loaded) == {"llc", "mrp", "stp", "garp", "8021q", "bridge"}
    assert await originals(store) == {
        "llc": True,
        "mrp": False,
        "stp": False,
        "garp": False,
        "8021q": False,
        "bridge": False,
    }

    await store.teardown_and_destroy(at(SPECS, "8021q"))
    assert machine.kernel.unloads == ["8021q", "garp", "mrp"]  # stp: the bridge spec's too
    assert set(machine.loaded) == {"llc", "stp", "bridge"}
    with pytest.raises(NotFoundError):
        await store.get(at(STATUSES, "8021q"))

    await store.teardown_and_destroy(at(SPECS, "bridge"))
    assert machine.loaded == ["llc"]
    assert await originals(store) == {}


async def test_a_dependency_something_else_uses_stays_loaded(
    store: Store, machine: Machine, runtime: Runtime
) -> None:
    await store.create(spec("8021q"))
    await ready(store, "8021q")
    machine.kernel.load("p8022", depends=("llc",))  # someone else's user of llc

    await store.teardown_and_destroy(at(SPECS, "8021q"))
    assert machine.loaded == ["llc", "p8022"]
    assert await originals(store) == {}


async def test_delete_waits_while_the_module_is_in_use(
    store: Store, machine: Machine, runtime: Runtime
) -> None:
    await store.create(spec("dummy"))
    await ready(store, "dummy")
    machine.kernel.hold("dummy")

    deleting = asyncio.create_task(store.teardown_and_destroy(at(SPECS, "dummy")))
    condition = await failed(store, "dummy", "InUse")
    assert "module dummy: is in use (refcount 1)" in condition.message
    assert not deleting.done()
    assert machine.loaded == ["dummy"]

    machine.kernel.hold("dummy", -1)
    await asyncio.wait_for(deleting, 5)
    assert machine.loaded == []


async def test_what_cosid_loaded_is_remembered_across_a_restart(
    store: Store, machine: Machine
) -> None:
    first = start(store, machine.driver)
    await store.create(spec("bonding"))
    await ready(store, "bonding")
    await first.stop()

    second = start(store, machine.driver)
    try:
        await ready(store, "bonding")
        assert (await status(store, "bonding")).loaded_by_cosid
        await store.teardown_and_destroy(at(SPECS, "bonding"))
        assert machine.loaded == []
    finally:
        await second.stop()


async def test_a_failing_item_shows_its_reason_while_others_converge(
    store: Store, machine: Machine, runtime: Runtime
) -> None:
    await store.create(spec("no_such_module"))
    await store.create(spec("dummy"))

    condition = await failed(store, "no_such_module", "NotFound")
    assert condition.message.startswith("module no_such_module: is no module, alias or built-in")
    await ready(store, "dummy")
    assert machine.loaded == ["dummy"]
    assert await status(store, "no_such_module") == KernelModuleStatus(
        name="no_such_module", state="absent"
    )

    await store.teardown_and_destroy(at(SPECS, "no_such_module"))
    assert machine.kernel.unloads == []
