"""The mounts controller under the real runtime and store, with the kernel driver mounting for
real in a private mount namespace, under a temporary root prefix.

Each test runs its whole runtime on the namespace's worker thread (`MountNamespace.run`), the
only thread that sees its mounts; `findmnt` there is the witness, and `mount`/`umount` there
change things behind cosid's back. The runtime has no resync: drift is noticed through the
controller's `changes()` (the runtime follows it: a change reconciles every item).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from cosid.controllers.mounts import MountsController
from cosid.drivers.mounts.kernel import KernelMountDriver
from cosid.drivers.mounts.policy import TargetPolicy
from cosid.resources.document import from_spec, to_spec
from cosid.resources.mounts import (
    CONTROLLER,
    ORIGINALS,
    SPECS,
    STATUSES,
    MountOriginal,
    MountSpec,
    MountStatus,
)
from cosid.runtime.runtime import Runtime
from cosid.state.errors import NotFoundError
from cosid.state.resource import Kind, Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.drivers.mountns import MountNamespace, guarded_mountns
from tests.runtime.conftest import FAST, condition_of, eventually, settled

TARGET = "/mnt/data"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "mnt").mkdir()
    return tmp_path


@pytest.fixture
def mountns(root: Path) -> Iterator[MountNamespace]:
    with guarded_mountns(root) as namespace:
        yield namespace


@pytest.fixture
def driver(root: Path) -> KernelMountDriver:
    return KernelMountDriver(root, TargetPolicy(deny=["/"], deny_below=["/proc"]))


@asynccontextmanager
async def running(
    driver: KernelMountDriver, store: Store, **options: Any
) -> AsyncIterator[Runtime]:
    """The mounts controller under a runtime (which follows its changes)."""
    runtime = Runtime(store, [MountsController(driver, None, **options)], backoff=FAST)
    runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def spec(target: str = TARGET, **fields: Any) -> Resource:
    model = MountSpec.model_validate({"target": target, **fields})
    return Resource(Metadata(SPECS.namespace, SPECS.type, model.id), to_spec(model))


def tmpfs(target: str = TARGET, **options: Any) -> Resource:
    return spec(target, fstype="tmpfs", mkdir=True, options=options)


def at(kind: Kind, target: str = TARGET) -> Pointer:
    return Pointer(kind.namespace, kind.type, target)


async def status(store: Store, target: str = TARGET) -> MountStatus:
    return from_spec(MountStatus, (await store.get(at(STATUSES, target))).spec)


async def exists(store: Store, pointer: Pointer) -> bool:
    try:
        await store.get(pointer)
    except NotFoundError:
        return False
    return True


async def ready(store: Store, target: str = TARGET, version: int = 1) -> None:
    async def check() -> bool:
        condition = await condition_of(store, CONTROLLER, target, kind=SPECS)
        return condition is not None and condition.ready and condition.observed_version >= version

    await eventually(check)


async def failed(store: Store, target: str = TARGET) -> tuple[str, str]:
    """The reason and message of the item's condition once a reconcile or teardown failed."""

    async def check() -> bool:
        condition = await condition_of(store, CONTROLLER, target, kind=SPECS)
        return condition is not None and not condition.ready and condition.attempts > 0

    await eventually(check)
    condition = await condition_of(store, CONTROLLER, target, kind=SPECS)
    assert condition is not None
    return condition.reason, condition.message


async def update(store: Store, resource: Resource) -> int:
    current = await store.get(resource.pointer)
    return (await store.update(Resource(current.metadata, resource.spec))).version


def test_applying_mounts_and_reports(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(driver, store) as runtime:
            await store.create(tmpfs("/mnt/new/data", size="1m", nosuid=True))
            await ready(store, "/mnt/new/data")

            [shown] = mountns.findmnt(root / "mnt/new/data")
            assert (shown["fstype"], shown["source"]) == ("tmpfs", "tmpfs")
            reported = await status(store, "/mnt/new/data")
            assert reported.mounted
            assert reported.matches
            assert reported.mount_id == shown["id"]
            assert (reported.fstype, reported.source, reported.root) == ("tmpfs", "tmpfs", "/")
            assert {"rw", "nosuid"} <= set(reported.mount_options)
            assert "size=1024k" in reported.super_options
            assert reported.created_from == "/mnt/new"
            original = from_spec(
                MountOriginal, (await store.get(at(ORIGINALS, "/mnt/new/data"))).spec
            )
            assert original == MountOriginal(target="/mnt/new/data", created_from="/mnt/new")
            metrics = runtime.metrics()[CONTROLLER]
            assert (metrics.applied, metrics.repairs) == (1, 0)

            # its own mount was a change: one more reconcile, which found nothing to do
            count = await settled(lambda: metrics.reconciles)
            assert count >= 2
            assert metrics.applied == 1
            assert len(mountns.findmnt(root / "mnt/new/data")) == 1

    mountns.run(scenario())


def test_an_external_unmount_is_repaired_at_once(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(driver, store) as runtime:
            await store.create(tmpfs(size="1m"))
            await ready(store)
            metrics = runtime.metrics()[CONTROLLER]

            mountns.exec("umount", str(root / "mnt/data"))

            async def repaired() -> bool:
                return metrics.repairs == 1 and len(mountns.findmnt(root / "mnt/data")) == 1

            await eventually(repaired)
            assert (await status(store)).matches
            await settled(lambda: metrics.reconciles)
            assert (metrics.applied, metrics.repairs) == (1, 1)

    mountns.run(scenario())


def test_flags_changed_behind_its_back_are_put_back_in_place(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(driver, store) as runtime:
            await store.create(tmpfs(size="1m", noexec=True))
            await ready(store)
            [before] = mountns.findmnt(root / "mnt/data")

            mountns.exec("mount", "-o", "remount,ro,exec", str(root / "mnt/data"))

            async def repaired() -> bool:
                return runtime.metrics()[CONTROLLER].repairs == 1

            await eventually(repaired)
            [after] = mountns.findmnt(root / "mnt/data")
            assert after["id"] == before["id"], "the same mount, changed back in place"
            assert {"rw", "noexec"} <= set(after["options"].split(","))

    mountns.run(scenario())


def test_a_changed_spec_changes_the_mount_in_place(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(driver, store) as runtime:
            await store.create(tmpfs(size="1m", mode="0700"))
            await ready(store)
            [before] = mountns.findmnt(root / "mnt/data")

            version = await update(store, tmpfs(size="2m", mode="0755", ro=True))
            await ready(store, version=version)

            [after] = mountns.findmnt(root / "mnt/data")
            assert after["id"] == before["id"]
            assert {"ro", "size=2048k"} <= set(after["options"].split(","))
            mode = os.stat(root / "mnt/data").st_mode & 0o7777  # on this thread: the mount's
            assert mode == 0o755
            metrics = runtime.metrics()[CONTROLLER]
            assert (metrics.applied, metrics.repairs) == (2, 0), "applied, not repaired"

    mountns.run(scenario())


def test_a_spec_changed_to_another_filesystem_replaces_the_mount(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    (root / "srv").mkdir()
    (root / "srv" / "file").write_text("bound\n")

    async def scenario() -> None:
        store = Store()
        async with running(driver, store):
            await store.create(tmpfs())
            await ready(store)

            bind = spec(source="/srv", mkdir=True, options={"bind": True, "ro": True})
            version = await update(store, bind)
            await ready(store, version=version)

            [only] = mountns.findmnt(root / "mnt/data")  # the tmpfs is gone, not underneath
            assert "ro" in only["options"].split(",")
            assert (root / "mnt/data/file").read_text() == "bound\n"

    mountns.run(scenario())


def test_deleting_unmounts_and_removes_the_directories_it_made(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    (root / "mnt" / "existing").mkdir()

    async def scenario() -> None:
        store = Store()
        async with running(driver, store):
            await store.create(tmpfs("/mnt/new/deeper/data"))
            await store.create(tmpfs("/mnt/existing"))
            await ready(store, "/mnt/new/deeper/data")
            await ready(store, "/mnt/existing")

            await store.teardown_and_destroy(at(SPECS, "/mnt/new/deeper/data"))
            await store.teardown_and_destroy(at(SPECS, "/mnt/existing"))

            assert mountns.findmnt(root / "mnt/new/deeper/data") == []
            assert mountns.findmnt(root / "mnt/existing") == []
            assert sorted(os.listdir(root / "mnt")) == ["existing"], "only what cosid made goes"
            for target in ("/mnt/new/deeper/data", "/mnt/existing"):
                assert not await exists(store, at(STATUSES, target))
                assert not await exists(store, at(ORIGINALS, target))

    mountns.run(scenario())


def test_deleting_after_a_restart_removes_what_was_made_before(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(driver, store):
            await store.create(tmpfs("/mnt/made/data"))
            await ready(store, "/mnt/made/data")
        async with running(driver, store):
            await store.teardown_and_destroy(at(SPECS, "/mnt/made/data"))
        assert os.listdir(root / "mnt") == []

    mountns.run(scenario())


@pytest.mark.parametrize("lazy_unmount", [False, True])
def test_deleting_a_busy_mount(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path, lazy_unmount: bool
) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(driver, store, lazy_unmount=lazy_unmount):
            await store.create(tmpfs())
            await ready(store)
            held = os.open(root / "mnt/data", os.O_RDONLY | os.O_DIRECTORY)
            try:
                deleting = asyncio.create_task(store.teardown_and_destroy(at(SPECS)))
                if not lazy_unmount:
                    assert await failed(store) == (
                        "TargetBusy",
                        f"{TARGET}: is busy, and lazy unmounts are off: EBUSY "
                        "(Device or resource busy)",
                    )
                    assert len(mountns.findmnt(root / "mnt/data")) == 1
            finally:
                os.close(held)
            await asyncio.wait_for(deleting, 5)
            assert mountns.findmnt(root / "mnt/data") == []

    mountns.run(scenario())


def test_a_foreign_mount_is_stacked_on_and_left_alone(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    (root / "mnt" / "data").mkdir()
    mountns.exec("mount", "-t", "tmpfs", "foreign", str(root / "mnt/data"))

    async def scenario() -> None:
        store = Store()
        async with running(driver, store):
            await store.create(spec(source="mine", fstype="tmpfs"))
            await ready(store)
            sources = [mount["source"] for mount in mountns.findmnt(root / "mnt/data")]
            assert sources == ["foreign", "mine"]

            await store.teardown_and_destroy(at(SPECS))

            sources = [mount["source"] for mount in mountns.findmnt(root / "mnt/data")]
            assert sources == ["foreign"]
            assert (root / "mnt" / "data").is_dir()

    mountns.run(scenario())


def test_refusals_show_their_reason_while_others_converge(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(driver, store):
            await store.create(tmpfs("/proc/sub"))
            await store.create(spec("/mnt/absent", fstype="tmpfs"))
            await store.create(
                spec("/mnt/bound", source="/srv/absent", mkdir=True, options={"bind": True})
            )
            await store.create(tmpfs())

            await ready(store)
            assert await failed(store, "/proc/sub") == (
                "DeniedTarget",
                "/proc/sub: is at or below /proc, which the configuration denies "
                "(domains.mounts.deny_below)",
            )
            assert (await failed(store, "/mnt/absent"))[0] == "TargetNotFound"
            reason, message = await failed(store, "/mnt/bound")
            assert (reason, message) == ("SourceNotFound", "/mnt/bound: /srv/absent does not exist")
            bound = await status(store, "/mnt/bound")
            assert (bound.mounted, bound.created_from) == (False, "/mnt/bound")
            assert not (root / "proc").exists()

            for target in ("/proc/sub", "/mnt/absent", "/mnt/bound"):
                await store.teardown_and_destroy(at(SPECS, target))
            assert sorted(os.listdir(root / "mnt")) == ["data"]

    mountns.run(scenario())


def test_a_target_inside_another_waits_for_it(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(driver, store):
            await store.write_all([tmpfs("/mnt/outer/inner"), tmpfs("/mnt/outer")])
            await ready(store, "/mnt/outer")
            await ready(store, "/mnt/outer/inner")

            [inner] = mountns.findmnt(root / "mnt/outer/inner")  # none hidden underneath
            [outer] = mountns.findmnt(root / "mnt/outer")
            assert inner["parent"] == outer["id"], "mounted inside the outer tmpfs"

            await store.teardown_and_destroy(at(SPECS, "/mnt/outer/inner"))
            await store.teardown_and_destroy(at(SPECS, "/mnt/outer"))
            assert os.listdir(root / "mnt") == []

    mountns.run(scenario())
