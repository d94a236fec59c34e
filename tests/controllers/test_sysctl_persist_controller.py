"""The sysctl-persist controller under the real runtime and store, writing the sysctl.d file
under a temporary root prefix, so these tests never touch the host's /etc/sysctl.d.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from cosid.controllers.boot_files import BootFilesController, Retirement
from cosid.drivers.sysctl.persist import HEADER, SysctlDFile
from cosid.resources.document import to_spec
from cosid.resources.sysctl import SPECS, SysctlSpec
from cosid.runtime.runtime import Runtime
from cosid.runtime.writer import OutputWriter, OwnershipError
from cosid.state.resource import Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.runtime.conftest import FAST, condition_of, eventually, settled

NAME = "sysctl-persist"


@pytest.fixture
def file(tmp_path: Path) -> SysctlDFile:
    conf = SysctlDFile(tmp_path)
    conf.path.parent.mkdir(parents=True)  # there on any node: watched from the start
    return conf


@pytest.fixture
def store() -> Store:
    return Store()


def start(store: Store, file: SysctlDFile) -> Runtime:
    controller = BootFilesController(NAME, SPECS, SysctlSpec, file, None)
    started = Runtime(store, [controller], backoff=FAST)
    started.start()
    return started


@pytest.fixture
async def runtime(store: Store, file: SysctlDFile) -> AsyncIterator[Runtime]:
    started = start(store, file)
    yield started
    await started.stop()


def spec(key: str, value: str, *, ignore_errors: bool = False) -> Resource:
    model = SysctlSpec(key=key, value=value, ignore_errors=ignore_errors)
    return Resource(Metadata(SPECS.namespace, SPECS.type, model.id), to_spec(model))


def at(key: str) -> Pointer:
    return Pointer(SPECS.namespace, SPECS.type, key)


async def ready(store: Store, key: str, version: int = 1) -> None:
    async def check() -> bool:
        condition = await condition_of(store, NAME, key, kind=SPECS)
        return condition is not None and condition.ready and condition.observed_version >= version

    await eventually(check)


async def apply(store: Store, *specs: Resource) -> None:
    for resource in specs:
        await store.create(resource)
    for resource in specs:
        await ready(store, resource.metadata.id)


def text(file: SysctlDFile) -> str | None:
    return file.path.read_text() if file.path.exists() else None


async def test_the_file_holds_every_spec_with_ignore_errors_marked(
    store: Store, file: SysctlDFile, runtime: Runtime
) -> None:
    await apply(
        store,
        spec("net.ipv4.ip_forward", "1"),
        spec("net/core/somaxconn", "1024"),
        spec("net.ipv6.no_such_key", "1", ignore_errors=True),
    )

    assert text(file) == HEADER + (
        "net.core.somaxconn = 1024\nnet.ipv4.ip_forward = 1\n-net.ipv6.no_such_key = 1\n"
    )
    assert runtime.metrics()[NAME].repairs == 0


async def test_a_changed_value_changes_its_line(
    store: Store, file: SysctlDFile, runtime: Runtime
) -> None:
    await apply(store, spec("net.ipv4.ip_forward", "1"))

    stored = await store.get(at("net.ipv4.ip_forward"))
    changed = spec("net.ipv4.ip_forward", "0")
    updated = await store.update(Resource(stored.metadata, changed.spec))
    await ready(store, "net.ipv4.ip_forward", updated.version)

    assert text(file) == HEADER + "net.ipv4.ip_forward = 0\n"


async def test_deleting_a_spec_returns_once_its_line_is_gone(
    store: Store, file: SysctlDFile, runtime: Runtime
) -> None:
    await apply(store, spec("net.ipv4.ip_forward", "1"), spec("net.core.somaxconn", "1024"))

    await store.teardown_and_destroy(at("net.ipv4.ip_forward"))

    assert text(file) == HEADER + "net.core.somaxconn = 1024\n"

    await store.teardown_and_destroy(at("net.core.somaxconn"))

    assert text(file) is None
    assert os.listdir(file.path.parent) == []


async def test_an_edit_of_the_file_is_repaired_at_once_without_resync(
    store: Store, file: SysctlDFile, runtime: Runtime
) -> None:
    """The runtime here has no resync (None) and nobody calls refresh: inotify alone."""
    await apply(store, spec("net.ipv4.ip_forward", "1"), spec("net.core.somaxconn", "1024"))
    wanted = text(file)
    metrics = runtime.metrics()[NAME]
    applied = metrics.applied

    async def repaired(count: int) -> None:
        async def check() -> bool:
            return metrics.repairs == count and text(file) == wanted

        await eventually(check)

    file.path.write_text("net.ipv4.ip_forward = 0\n")  # edited in place
    await repaired(1)

    file.path.unlink()
    await repaired(2)

    # cosid's own writes were events too: one more reconcile each, which finds nothing to do
    count = await settled(lambda: metrics.reconciles)
    await asyncio.sleep(0.2)
    assert metrics.reconciles == count
    assert (metrics.repairs, metrics.applied) == (2, applied), "one repair per edit, not per spec"


async def test_a_start_rewrites_a_file_left_stale(store: Store, file: SysctlDFile) -> None:
    first = start(store, file)
    await apply(store, spec("net.ipv4.ip_forward", "1"))
    await first.stop()
    file.path.write_text("kernel.pid_max = 1\n")  # while cosid was not running

    second = start(store, file)
    try:

        async def rewritten() -> bool:
            return text(file) == HEADER + "net.ipv4.ip_forward = 1\n"

        await eventually(rewritten)
    finally:
        await second.stop()


async def test_turned_off_its_retirement_removes_the_file_and_its_finalizers(
    store: Store, file: SysctlDFile
) -> None:
    """With persistence off there is no controller: at start-up the files go, and so do the
    finalizers the controller left, so a delete finishes with nobody to tear down."""
    on = start(store, file)
    await apply(store, spec("net.ipv4.ip_forward", "1"), spec("net.core.somaxconn", "512"))
    await on.stop()
    assert text(file) is not None

    await Retirement(NAME, SPECS, file).carry_out(store)

    assert text(file) is None
    assert all(NAME not in r.metadata.finalizers for r in await store.list(SPECS))
    await asyncio.wait_for(store.teardown_and_destroy(at("net.ipv4.ip_forward")), 5)


async def test_the_writer_lists_any_kind_it_may_not_write(store: Store) -> None:
    for key in ("net.ipv4.ip_forward", "kernel.pid_max", "net.core.somaxconn"):
        await store.create(spec(key, "1"))
    writer = OutputWriter(store, NAME, frozenset())

    listed = await writer.list(SPECS)

    assert [r.metadata.id for r in listed] == [
        "kernel.pid_max",
        "net.core.somaxconn",
        "net.ipv4.ip_forward",
    ]
    with pytest.raises(OwnershipError):
        await writer.put(at("kernel.pid_max"), listed[0].spec)


class ReadOnlyFile:
    """A boot file on a read-only /etc (a stand-in: the host's /etc must not be made so)."""

    paths = (Path("/etc/sysctl.d/90-cosid.conf"),)

    def hold(self, specs: Sequence[SysctlSpec]) -> bool:
        raise OSError(30, "Read-only file system")


async def test_a_retirement_that_cannot_remove_the_file_still_frees_the_specs(
    store: Store,
) -> None:
    await store.create(spec("net.ipv4.ip_forward", "1").with_metadata(finalizers=(NAME,)))

    await Retirement(NAME, SPECS, ReadOnlyFile()).carry_out(store)

    assert [r.metadata.finalizers for r in await store.list(SPECS)] == [()]
