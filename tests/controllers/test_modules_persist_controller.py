"""The modules-persist controller under the real runtime and store, writing the modules-load.d
and modprobe.d files under a temporary root prefix, so these tests never touch the host's
/etc. The modules controller is not running: this one only writes files, and loads nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cosid.controllers.boot_files import BootFilesController, Retirement
from cosid.drivers.modules.persist import HEADER, ModuleBootFiles
from cosid.resources.document import to_spec
from cosid.resources.modules import SPECS, KernelModuleSpec
from cosid.runtime.runtime import Runtime
from cosid.state.resource import Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.runtime.conftest import FAST, condition_of, eventually, settled

NAME = "modules-persist"


@pytest.fixture
def files(tmp_path: Path) -> ModuleBootFiles:
    boot = ModuleBootFiles(tmp_path)
    for path in boot.paths:
        path.parent.mkdir(parents=True)  # there on any node: watched from the start
    return boot


@pytest.fixture
def store() -> Store:
    return Store()


def start(store: Store, files: ModuleBootFiles) -> Runtime:
    controller = BootFilesController(NAME, SPECS, KernelModuleSpec, files, None)
    started = Runtime(store, [controller], backoff=FAST)
    started.start()
    return started


@pytest.fixture
async def runtime(store: Store, files: ModuleBootFiles) -> AsyncIterator[Runtime]:
    started = start(store, files)
    yield started
    await started.stop()


def spec(name: str, **parameters: str) -> Resource:
    model = KernelModuleSpec(name=name, parameters=parameters)
    return Resource(Metadata(SPECS.namespace, SPECS.type, model.id), to_spec(model))


def at(name: str) -> Pointer:
    return Pointer(SPECS.namespace, SPECS.type, name)


async def ready(store: Store, name: str, version: int = 1) -> None:
    async def check() -> bool:
        condition = await condition_of(store, NAME, name, kind=SPECS)
        return condition is not None and condition.ready and condition.observed_version >= version

    await eventually(check)


async def apply(store: Store, *specs: Resource) -> None:
    for resource in specs:
        await store.create(resource)
    for resource in specs:
        await ready(store, resource.metadata.id)


def texts(files: ModuleBootFiles) -> tuple[str | None, str | None]:
    """modules-load.d's file and modprobe.d's (None: no file)."""
    load, modprobe = (path.read_text() if path.exists() else None for path in files.paths)
    return load, modprobe


async def test_the_files_load_every_spec_with_its_parameters(
    store: Store, files: ModuleBootFiles, runtime: Runtime
) -> None:
    await apply(
        store,
        spec("bonding", mode="active-backup", max_bonds="0"),
        spec("rtnl-link-vlan"),
        spec("dummy", numdummies="2"),
    )

    assert texts(files) == (
        HEADER + "bonding\ndummy\nrtnl_link_vlan\n",
        HEADER + "options bonding mode=active-backup max_bonds=0\noptions dummy numdummies=2\n",
    )
    assert runtime.metrics()[NAME].repairs == 0


async def test_changed_parameters_change_the_options_line(
    store: Store, files: ModuleBootFiles, runtime: Runtime
) -> None:
    await apply(store, spec("dummy", numdummies="2"))

    stored = await store.get(at("dummy"))
    updated = await store.update(Resource(stored.metadata, spec("dummy").spec))
    await ready(store, "dummy", updated.version)

    assert texts(files) == (HEADER + "dummy\n", None)


async def test_deleting_a_spec_returns_once_its_lines_are_gone(
    store: Store, files: ModuleBootFiles, runtime: Runtime
) -> None:
    await apply(store, spec("bonding", max_bonds="0"), spec("dummy"))

    await store.teardown_and_destroy(at("bonding"))

    assert texts(files) == (HEADER + "dummy\n", None)

    await store.teardown_and_destroy(at("dummy"))

    assert texts(files) == (None, None)
    assert [list(path.parent.iterdir()) for path in files.paths] == [[], []]


async def test_an_edit_of_the_files_is_repaired_at_once_without_resync(
    store: Store, files: ModuleBootFiles, runtime: Runtime
) -> None:
    """The runtime here has no resync (None) and nobody calls refresh: inotify alone."""
    await apply(store, spec("bonding", max_bonds="0"), spec("dummy"))
    wanted = texts(files)
    metrics = runtime.metrics()[NAME]
    applied = metrics.applied

    async def repaired(count: int) -> None:
        async def check() -> bool:
            return metrics.repairs == count and texts(files) == wanted

        await eventually(check)

    files.modules_load.write_text("dummy\n")  # edited in place
    await repaired(1)

    files.modprobe.unlink()
    await repaired(2)

    count = await settled(lambda: metrics.reconciles)
    await asyncio.sleep(0.2)
    assert metrics.reconciles == count
    assert (metrics.repairs, metrics.applied) == (2, applied), "one repair per edit, not per spec"


async def test_turned_off_its_retirement_removes_the_files_and_its_finalizers(
    store: Store, files: ModuleBootFiles
) -> None:
    """With persistence off there is no controller: at start-up the files go, and so do the
    finalizers the controller left, so a delete finishes with nobody to tear down."""
    on = start(store, files)
    await apply(store, spec("bonding", max_bonds="0"), spec("dummy"))
    await on.stop()
    assert texts(files) != (None, None)

    await Retirement(NAME, SPECS, files).carry_out(store)

    assert texts(files) == (None, None)
    assert all(NAME not in r.metadata.finalizers for r in await store.list(SPECS))
    await asyncio.wait_for(store.teardown_and_destroy(at("bonding")), 5)
