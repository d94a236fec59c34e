"""The MOTD controller under the real runtime and store, on a private /etc under a temporary
root prefix (the driver's own root option), so these tests never touch the host's /etc/motd.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cosid.controllers.motd import MotdController
from cosid.drivers.motd.file import FileMotdDriver
from cosid.resources.document import from_spec, to_spec
from cosid.resources.files import digest
from cosid.resources.motd import (
    MOTD_ID,
    ORIGINALS,
    SPECS,
    STATUSES,
    MotdOriginal,
    MotdSpec,
    MotdStatus,
)
from cosid.runtime.runtime import Runtime
from cosid.state.errors import NotFoundError
from cosid.state.resource import Kind, Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.drivers.readonly import read_only_directory
from tests.runtime.conftest import FAST, condition_of, eventually, settled

ORIGINAL = b"Original message\n"


class Tree:
    """A private /etc holding (or not) a motd, under a root prefix."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc = root / "etc"
        self.motd = self.etc / "motd"

    def put(self, content: bytes, mode: int = 0o644) -> None:
        self.motd.write_bytes(content)
        self.motd.chmod(mode)

    def content(self) -> bytes | None:
        return self.motd.read_bytes() if self.motd.exists() else None

    def mode(self) -> int:
        return stat.S_IMODE(self.motd.stat().st_mode)

    def inode(self) -> int:
        return self.motd.stat().st_ino

    def entries(self) -> list[str]:
        return sorted(os.listdir(self.etc))


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    tree = Tree(tmp_path)
    tree.etc.mkdir()
    tree.put(ORIGINAL, mode=0o640)
    return tree


@pytest.fixture
def empty_tree(tmp_path: Path) -> Tree:
    """An /etc without a motd."""
    tree = Tree(tmp_path)
    tree.etc.mkdir()
    return tree


@pytest.fixture
def store() -> Store:
    return Store()


def start(store: Store, tree: Tree) -> Runtime:
    started = Runtime(store, [MotdController(FileMotdDriver(tree.root), None)], backoff=FAST)
    started.start()
    return started


@pytest.fixture
async def runtime(store: Store, tree: Tree) -> AsyncIterator[Runtime]:
    started = start(store, tree)
    yield started
    await started.stop()


def spec(text: str, item_id: str = MOTD_ID) -> Resource:
    return Resource(Metadata(SPECS.namespace, SPECS.type, item_id), to_spec(MotdSpec(text=text)))


def at(kind: Kind, item_id: str = MOTD_ID) -> Pointer:
    return Pointer(kind.namespace, kind.type, item_id)


async def status(store: Store) -> MotdStatus:
    return from_spec(MotdStatus, (await store.get(at(STATUSES))).spec)


async def ready(store: Store, version: int = 1) -> None:
    async def check() -> bool:
        condition = await condition_of(store, "motd", MOTD_ID, kind=SPECS)
        return condition is not None and condition.ready and condition.observed_version >= version

    await eventually(check)


async def update(store: Store, text: str) -> int:
    current = await store.get(at(SPECS))
    updated = await store.update(Resource(current.metadata, to_spec(MotdSpec(text=text))))
    return updated.version


async def test_applying_writes_the_file_and_reports_it(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    await store.create(spec("Hello from cosid"))

    await ready(store)

    assert tree.content() == b"Hello from cosid\n"
    assert tree.mode() == 0o640, "the file keeps its mode"
    owner = tree.motd.stat()
    assert await status(store) == MotdStatus(
        exists=True,
        sha256=digest(b"Hello from cosid\n"),
        size=17,
        mode=0o640,
        uid=owner.st_uid,
        gid=owner.st_gid,
        original_sha256=digest(ORIGINAL),
    )
    original = from_spec(MotdOriginal, (await store.get(at(ORIGINALS))).spec)
    assert original == MotdOriginal(exists=True, content=ORIGINAL)
    assert runtime.metrics()["motd"].applied == 1


async def test_the_text_already_there_changes_nothing(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    inode = tree.inode()

    await store.create(spec(ORIGINAL.decode()))
    await ready(store)
    runtime.runs["motd"].refresh()

    async def reconciled_twice() -> bool:
        return runtime.metrics()["motd"].reconciles >= 2

    await eventually(reconciled_twice)
    assert tree.inode() == inode, "not even rewritten"
    assert runtime.metrics()["motd"].applied == 0
    assert (await status(store)).sha256 == digest(ORIGINAL)


async def test_drift_is_repaired_on_refresh_and_counted(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    await store.create(spec("Hello"))
    await ready(store)

    tree.put(b"someone else's message\n", mode=0o600)  # edited behind cosid's back
    runtime.runs["motd"].refresh()

    async def repaired() -> bool:
        return runtime.metrics()["motd"].repairs == 1

    await eventually(repaired)
    assert tree.content() == b"Hello\n"
    assert tree.mode() == 0o600, "the repair keeps the mode it found"
    assert (await status(store)).original_sha256 == digest(ORIGINAL)

    version = await update(store, "Changed on purpose")
    await ready(store, version)
    assert tree.content() == b"Changed on purpose\n"
    metrics = runtime.metrics()["motd"]
    assert (metrics.applied, metrics.repairs) == (2, 1), "a new text is applied, not repaired"


async def test_an_external_edit_is_repaired_at_once_without_resync(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    """The runtime here has no resync (None) and nobody calls refresh: inotify alone."""
    await store.create(spec("Hello"))
    await ready(store)
    metrics = runtime.metrics()["motd"]

    async def repaired(count: int) -> None:
        async def check() -> bool:
            return metrics.repairs == count and tree.content() == b"Hello\n"

        await eventually(check, within=1.0)

    tree.put(b"edited in place\n")
    await repaired(1)

    replaced = tree.etc / "motd.new"  # as an editor saves: a new file renamed over
    replaced.write_bytes(b"replaced\n")
    os.rename(replaced, tree.motd)
    await repaired(2)

    tree.motd.unlink()
    await repaired(3)
    assert tree.entries() == ["motd"]

    # cosid's own writes were events too: one more reconcile each, which finds nothing to do
    count = await settled(lambda: metrics.reconciles)
    await asyncio.sleep(0.2)
    assert metrics.reconciles == count
    assert (metrics.repairs, metrics.applied) == (3, 1)


async def test_deleting_the_spec_restores_the_original(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    await store.create(spec("Hello"))
    await ready(store)

    await store.teardown_and_destroy(at(SPECS))

    assert tree.content() == ORIGINAL
    assert tree.mode() == 0o640
    assert tree.entries() == ["motd"]
    for kind in (STATUSES, ORIGINALS):
        with pytest.raises(NotFoundError):
            await store.get(at(kind))


async def test_deleting_the_spec_removes_a_file_that_was_not_there(
    store: Store, empty_tree: Tree
) -> None:
    runtime = start(store, empty_tree)
    try:
        await store.create(spec("Hello"))
        await ready(store)
        assert empty_tree.content() == b"Hello\n"
        assert empty_tree.mode() == 0o644
        assert (await status(store)).original_sha256 is None

        await store.teardown_and_destroy(at(SPECS))

        assert empty_tree.entries() == []
    finally:
        await runtime.stop()


async def test_the_original_survives_a_restart_and_is_what_delete_restores(
    store: Store, tree: Tree
) -> None:
    first = start(store, tree)
    await store.create(spec("Hello"))
    await ready(store)
    await first.stop()

    second = start(store, tree)
    try:
        await ready(store)
        assert (await status(store)).original_sha256 == digest(ORIGINAL)
        await store.teardown_and_destroy(at(SPECS))
        assert tree.content() == ORIGINAL
    finally:
        await second.stop()


async def test_a_failed_write_shows_on_the_condition_and_is_retried(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    with read_only_directory(tree.etc):
        await store.create(spec("Hello"))

        async def refused() -> bool:
            condition = await condition_of(store, "motd", MOTD_ID, kind=SPECS)
            return condition is not None and condition.reason == "PermissionDenied"

        await eventually(refused)
        condition = await condition_of(store, "motd", MOTD_ID, kind=SPECS)
        assert condition is not None
        assert not condition.ready
        assert condition.message.startswith("/etc/motd: cannot be replaced by cosid: E")
        assert tree.content() == ORIGINAL
        assert (await status(store)).sha256 == digest(ORIGINAL), "status shows what is there"

    await ready(store)  # the runtime's retry, once the directory is writable again
    assert tree.content() == b"Hello\n"
    assert tree.entries() == ["motd"]


async def test_an_id_other_than_motd_is_refused(store: Store, tree: Tree, runtime: Runtime) -> None:
    await store.create(spec("Hello", item_id="other"))

    async def refused() -> bool:
        condition = await condition_of(store, "motd", "other", kind=SPECS)
        return condition is not None and "there is one MOTD" in condition.message

    await eventually(refused)
    assert tree.content() == ORIGINAL
    await store.teardown_and_destroy(at(SPECS, "other"))
    assert tree.content() == ORIGINAL
