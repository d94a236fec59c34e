"""The DNS controller under the real runtime and store, on a private /etc under a temporary root
prefix (the driver's own root option), so these tests never touch the host's resolv.conf.

Every runtime here has no resync: drift is repaired because inotify reports it.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cosid.controllers.dns import DnsController
from cosid.drivers.dns import SymlinkPolicy
from cosid.drivers.dns.resolvconf import ResolvConfDriver
from cosid.resources.dns import (
    ORIGINALS,
    RESOLVER_ID,
    SPECS,
    STATUSES,
    ResolverOriginal,
    ResolverSpec,
    ResolverStatus,
    file_content,
)
from cosid.resources.document import from_spec, to_spec
from cosid.resources.files import digest
from cosid.runtime.runtime import Runtime
from cosid.state.errors import NotFoundError
from cosid.state.resource import Kind, Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.runtime.conftest import FAST, condition_of, eventually, settled

ORIGINAL = b"# the distribution's\nnameserver 10.0.0.1\nsearch corp.example\n"
STUB = b"nameserver 127.0.0.53\noptions edns0 trust-ad\n"
STUB_TARGET = "../run/systemd/resolve/stub-resolv.conf"
SPEC = ResolverSpec(
    nameservers=("192.0.2.53", "2001:db8::53"), search=("example.com",), options={"ndots": 2}
)
WRITTEN = file_content(SPEC)


class Tree:
    """A private /etc (and a stub resolver's file under /run) under a root prefix."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc = root / "etc"
        self.etc.mkdir()
        self.resolv_conf = self.etc / "resolv.conf"
        self.stub = root / "run" / "systemd" / "resolve" / "stub-resolv.conf"
        self.stub.parent.mkdir(parents=True)
        self.stub.write_bytes(STUB)

    def put(self, content: bytes, mode: int = 0o644) -> None:
        self.resolv_conf.write_bytes(content)
        self.resolv_conf.chmod(mode)

    def content(self) -> bytes | None:
        return self.resolv_conf.read_bytes() if self.resolv_conf.exists() else None

    def mode(self) -> int:
        return stat.S_IMODE(self.resolv_conf.stat().st_mode)

    def symlink(self) -> str | None:
        return os.readlink(self.resolv_conf) if self.resolv_conf.is_symlink() else None

    def entries(self) -> list[str]:
        return sorted(os.listdir(self.etc))


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


@pytest.fixture
def store() -> Store:
    return Store()


def start(store: Store, tree: Tree, symlink: SymlinkPolicy = "replace") -> Runtime:
    driver = ResolvConfDriver(tree.root, symlink=symlink)
    started = Runtime(store, [DnsController(driver, None)], backoff=FAST)
    started.start()
    return started


@pytest.fixture
async def runtime(store: Store, tree: Tree) -> AsyncIterator[Runtime]:
    started = start(store, tree)
    yield started
    await started.stop()


def spec(wanted: ResolverSpec = SPEC, item_id: str = RESOLVER_ID) -> Resource:
    return Resource(Metadata(SPECS.namespace, SPECS.type, item_id), to_spec(wanted))


def at(kind: Kind, item_id: str = RESOLVER_ID) -> Pointer:
    return Pointer(kind.namespace, kind.type, item_id)


async def status(store: Store) -> ResolverStatus:
    return from_spec(ResolverStatus, (await store.get(at(STATUSES))).spec)


async def original(store: Store) -> ResolverOriginal:
    return from_spec(ResolverOriginal, (await store.get(at(ORIGINALS))).spec)


async def ready(store: Store, version: int = 1) -> None:
    async def check() -> bool:
        condition = await condition_of(store, "dns", RESOLVER_ID, kind=SPECS)
        return condition is not None and condition.ready and condition.observed_version >= version

    await eventually(check)


async def failing(store: Store, reason: str) -> str:
    """The condition's message once it shows `reason`."""

    async def check() -> bool:
        condition = await condition_of(store, "dns", RESOLVER_ID, kind=SPECS)
        return condition is not None and condition.reason == reason

    await eventually(check)
    condition = await condition_of(store, "dns", RESOLVER_ID, kind=SPECS)
    assert condition is not None
    assert not condition.ready
    return condition.message


async def gone(store: Store) -> None:
    for kind in (STATUSES, ORIGINALS):
        with pytest.raises(NotFoundError):
            await store.get(at(kind))


# --- apply -----------------------------------------------------------------------------------


async def test_applying_writes_the_file_and_reports_what_it_says(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    tree.put(ORIGINAL, mode=0o600)

    await store.create(spec())
    await ready(store)

    assert tree.content() == WRITTEN
    assert tree.mode() == 0o644
    assert await status(store) == ResolverStatus(
        file="/etc/resolv.conf",
        nameservers=("192.0.2.53", "2001:db8::53"),
        search=("example.com",),
        options=("ndots:2",),
        sha256=digest(WRITTEN),
        mode=0o644,
        original_sha256=digest(ORIGINAL),
    )
    assert await original(store) == ResolverOriginal(exists=True, content=ORIGINAL, mode=0o600)
    assert runtime.metrics()["dns"].applied == 1


async def test_the_file_already_there_is_not_rewritten(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    tree.put(WRITTEN)
    inode = tree.resolv_conf.stat().st_ino

    await store.create(spec())
    await ready(store)
    runtime.runs["dns"].refresh()

    async def reconciled_twice() -> bool:
        return runtime.metrics()["dns"].reconciles >= 2

    await eventually(reconciled_twice)
    assert tree.resolv_conf.stat().st_ino == inode
    assert runtime.metrics()["dns"].applied == 0


async def test_a_new_spec_is_applied_not_repaired(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    await store.create(spec())
    await ready(store)

    current = await store.get(at(SPECS))
    changed = ResolverSpec(nameservers=("192.0.2.1",), options={"rotate": True})
    updated = await store.update(Resource(current.metadata, to_spec(changed)))
    await ready(store, updated.version)

    assert tree.content() == file_content(changed)
    assert (await status(store)).options == ("rotate",)
    metrics = runtime.metrics()["dns"]
    assert (metrics.applied, metrics.repairs) == (2, 0)


# --- drift -----------------------------------------------------------------------------------


async def test_an_external_change_is_repaired_at_once(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    """Edited in place, replaced as an editor saves, made unreadable, a link put there,
    removed: each repaired on inotify's word alone (no resync, no refresh)."""
    await store.create(spec())
    await ready(store)
    metrics = runtime.metrics()["dns"]

    async def repaired(count: int) -> None:
        async def check() -> bool:
            return (
                metrics.repairs == count
                and tree.content() == WRITTEN
                and tree.symlink() is None
                and tree.mode() == 0o644
            )

        await eventually(check, within=1.0)

    tree.put(b"nameserver 10.6.6.6\n")
    await repaired(1)

    saved = tree.etc / "resolv.conf.new"
    saved.write_bytes(b"nameserver 10.6.6.6\n")
    os.rename(saved, tree.resolv_conf)
    await repaired(2)

    tree.resolv_conf.chmod(0o600)
    await repaired(3)

    link = tree.etc / "resolv.conf.link"
    link.symlink_to(STUB_TARGET)
    os.rename(link, tree.resolv_conf)  # what a resolvconf package does
    await repaired(4)

    tree.resolv_conf.unlink()
    await repaired(5)

    assert tree.entries() == ["resolv.conf"]
    assert tree.stub.read_bytes() == STUB
    count = await settled(lambda: metrics.reconciles)
    await asyncio.sleep(0.2)
    assert metrics.reconciles == count, "cosid's own writes cause no loop"
    assert metrics.applied == 1


# --- delete ----------------------------------------------------------------------------------


async def test_deleting_restores_the_original_file(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    tree.put(ORIGINAL, mode=0o640)
    await store.create(spec())
    await ready(store)

    await store.teardown_and_destroy(at(SPECS))

    assert (tree.content(), tree.mode()) == (ORIGINAL, 0o640)
    assert tree.entries() == ["resolv.conf"]
    await gone(store)


async def test_deleting_removes_a_file_that_was_not_there(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    await store.create(spec())
    await ready(store)
    assert (await status(store)).original_sha256 is None

    await store.teardown_and_destroy(at(SPECS))

    assert tree.entries() == []
    await gone(store)


async def test_replace_swaps_the_symlink_for_a_file_and_delete_puts_it_back(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    tree.resolv_conf.symlink_to(STUB_TARGET)

    await store.create(spec())
    await ready(store)

    assert tree.symlink() is None
    assert tree.content() == WRITTEN
    assert tree.stub.read_bytes() == STUB
    shown = await status(store)
    assert (shown.symlink, shown.original_symlink) == (None, STUB_TARGET)
    assert shown.original_sha256 == digest(STUB)

    await store.teardown_and_destroy(at(SPECS))

    assert tree.symlink() == STUB_TARGET
    assert tree.stub.read_bytes() == STUB
    assert tree.entries() == ["resolv.conf"]


async def test_follow_writes_through_the_symlink_and_delete_restores_its_file(
    store: Store, tree: Tree
) -> None:
    tree.resolv_conf.symlink_to(STUB_TARGET)
    runtime = start(store, tree, symlink="follow")
    try:
        await store.create(spec())
        await ready(store)

        assert tree.symlink() == STUB_TARGET
        assert tree.stub.read_bytes() == WRITTEN
        shown = await status(store)
        assert (shown.symlink, shown.file) == (STUB_TARGET, "/run/systemd/resolve/stub-resolv.conf")
        assert shown.nameservers == SPEC.nameservers
        assert shown.original_symlink == STUB_TARGET

        await store.teardown_and_destroy(at(SPECS))

        assert tree.symlink() == STUB_TARGET
        assert tree.stub.read_bytes() == STUB
    finally:
        await runtime.stop()


async def test_follow_refuses_a_symlink_out_of_the_root(store: Store, tree: Tree) -> None:
    tree.resolv_conf.symlink_to("../../../outside/resolv.conf")
    runtime = start(store, tree, symlink="follow")
    try:
        await store.create(spec())

        message = await failing(store, "SymlinkOutsideRoot")

        assert message == (
            "/etc/resolv.conf: points to '../../../outside/resolv.conf', out of the root"
        )
        shown = await status(store)
        assert (shown.symlink, shown.file, shown.nameservers) == (
            "../../../outside/resolv.conf",
            None,
            (),
        )
        await store.teardown_and_destroy(at(SPECS))
        assert tree.symlink() == "../../../outside/resolv.conf"
        await gone(store)
    finally:
        await runtime.stop()


async def test_the_original_survives_a_restart_and_is_what_delete_restores(
    store: Store, tree: Tree
) -> None:
    tree.resolv_conf.symlink_to(STUB_TARGET)
    first = start(store, tree)
    await store.create(spec())
    await ready(store)
    await first.stop()

    second = start(store, tree)
    try:
        await ready(store)
        assert (await status(store)).original_symlink == STUB_TARGET
        await store.teardown_and_destroy(at(SPECS))
        assert tree.symlink() == STUB_TARGET
    finally:
        await second.stop()


async def test_an_id_other_than_resolver_is_refused(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    tree.put(ORIGINAL)
    await store.create(spec(item_id="other"))

    async def refused() -> bool:
        condition = await condition_of(store, "dns", "other", kind=SPECS)
        return condition is not None and "one resolver configuration" in condition.message

    await eventually(refused)
    assert tree.content() == ORIGINAL
    await store.teardown_and_destroy(at(SPECS, "other"))
    assert tree.content() == ORIGINAL
