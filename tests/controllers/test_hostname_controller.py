"""The hostname controller under the real runtime and store, with the kernel driver setting
real names in a fresh UTS namespace and writing /etc/hostname under a temporary root prefix.

Each test runs its whole runtime on the namespace's worker thread (`UtsNamespace.run`), the only
thread whose names the driver may change; the `hostname` and `domainname` tools, run in that
namespace, witness the kernel's names. The host's names are checked unchanged after each test.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from cosid.controllers.hostname import HostnameController
from cosid.drivers.hostname.kernel import KernelHostnameDriver
from cosid.resources.document import from_spec, to_spec
from cosid.resources.hostname import (
    HOSTNAME_ID,
    ORIGINALS,
    SPECS,
    STATUSES,
    HostnameOriginal,
    HostnameSpec,
    HostnameStatus,
)
from cosid.runtime.runtime import Runtime
from cosid.state.errors import NotFoundError
from cosid.state.resource import Kind, Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.drivers.uts import CAP_SYS_ADMIN, UtsNamespace, guarded_uts, set_in
from tests.runtime.conftest import FAST, condition_of, eventually, settled

BEFORE = "before-cosid"


@pytest.fixture
def uts() -> Iterator[UtsNamespace]:
    with guarded_uts() as namespace:
        set_in(namespace, BEFORE)
        yield namespace


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostname").write_text(f"{BEFORE}\n")
    return tmp_path


def hostname_file(root: Path) -> str | None:
    path = root / "etc" / "hostname"
    return path.read_text() if path.exists() else None


def spec(hostname: str, domain: str | None = None, *, item_id: str = HOSTNAME_ID) -> Resource:
    model = HostnameSpec(hostname=hostname, domain=domain)
    return Resource(Metadata(SPECS.namespace, SPECS.type, item_id), to_spec(model))


def at(kind: Kind, item_id: str = HOSTNAME_ID) -> Pointer:
    return Pointer(kind.namespace, kind.type, item_id)


@asynccontextmanager
async def running(store: Store, root: Path) -> AsyncIterator[Runtime]:
    """The hostname controller under a runtime for the block's duration."""
    runtime = Runtime(store, [HostnameController(KernelHostnameDriver(root), None)], backoff=FAST)
    runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def status(store: Store) -> HostnameStatus:
    return from_spec(HostnameStatus, (await store.get(at(STATUSES))).spec)


async def original(store: Store) -> HostnameOriginal:
    return from_spec(HostnameOriginal, (await store.get(at(ORIGINALS))).spec)


async def ready(store: Store, version: int | None = None) -> None:
    async def check() -> bool:
        condition = await condition_of(store, "hostname", HOSTNAME_ID, kind=SPECS)
        return (
            condition is not None
            and condition.ready
            and (version is None or condition.observed_version == version)
        )

    await eventually(check)


async def failed(store: Store, item_id: str = HOSTNAME_ID) -> str:
    """The message of the item's condition once a reconcile failed."""

    async def check() -> bool:
        condition = await condition_of(store, "hostname", item_id, kind=SPECS)
        return condition is not None and not condition.ready and condition.attempts > 0

    await eventually(check)
    condition = await condition_of(store, "hostname", item_id, kind=SPECS)
    assert condition is not None
    assert not condition.ready
    return condition.message


def test_applying_sets_the_names_and_reports_them(uts: UtsNamespace, root: Path) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(store, root) as runtime:
            await store.create(spec("Web-01.example.com", "Corp"))
            await ready(store)
            assert os.uname().nodename == "web-01.example.com"
            assert await status(store) == HostnameStatus(
                hostname="web-01.example.com", domain="Corp", file="web-01.example.com\n"
            )
            assert await original(store) == HostnameOriginal(
                hostname=BEFORE, domain="(none)", file=f"{BEFORE}\n"
            )
            assert runtime.metrics()["hostname"].applied == 1

    uts.run(scenario())
    assert uts.witness() == ("web-01.example.com", "Corp")
    assert hostname_file(root) == "web-01.example.com\n"


def test_drift_is_repaired_on_resync_and_counted(uts: UtsNamespace, root: Path) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(store, root) as runtime:
            await store.create(spec("web-01"))
            await ready(store)
            assert runtime.metrics()["hostname"].repairs == 0

            set_in(uts, "intruder")  # someone ran hostname behind cosid's back
            (root / "etc" / "hostname").write_text("intruder\n")
            runtime.runs["hostname"].refresh()

            async def repaired() -> bool:
                return runtime.metrics()["hostname"].repairs == 1

            await eventually(repaired)
            assert (await status(store)).hostname == "web-01"
            assert (await original(store)).hostname == BEFORE

            (root / "etc" / "hostname").write_text("edited\n")  # only the file this time
            runtime.runs["hostname"].refresh()

            async def file_repaired() -> bool:
                return runtime.metrics()["hostname"].repairs == 2

            await eventually(file_repaired)
            assert (await status(store)).file == "web-01\n"

    uts.run(scenario())
    assert uts.witness()[0] == "web-01"
    assert hostname_file(root) == "web-01\n"


def test_an_edit_of_the_file_is_repaired_at_once_without_resync(
    uts: UtsNamespace, root: Path
) -> None:
    """The runtime here has no resync (None) and nobody calls refresh: inotify alone."""
    path = root / "etc" / "hostname"

    async def scenario() -> None:
        store = Store()
        async with running(store, root) as runtime:
            await store.create(spec("web-01"))
            await ready(store)
            metrics = runtime.metrics()["hostname"]

            path.write_text("intruder\n")

            async def repaired() -> bool:
                return metrics.repairs == 1 and hostname_file(root) == "web-01\n"

            await eventually(repaired, within=1.0)
            count = await settled(lambda: metrics.reconciles)  # its own write: one more
            await asyncio.sleep(0.2)
            assert metrics.reconciles == count
            assert (await status(store)).file == "web-01\n"

    uts.run(scenario())
    assert hostname_file(root) == "web-01\n"


def test_a_changed_spec_is_applied_not_repaired(uts: UtsNamespace, root: Path) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(store, root) as runtime:
            await store.create(spec("web-01"))
            await ready(store)
            current = await store.get(at(SPECS))  # the finalizer moved its version on
            updated = await store.update(Resource(current.metadata, spec("web-02").spec))
            await ready(store, updated.version)
            metrics = runtime.metrics()["hostname"]
            assert (metrics.applied, metrics.repairs) == (2, 0)
            assert (await original(store)).hostname == BEFORE

    uts.run(scenario())
    assert uts.witness()[0] == "web-02"


def test_deleting_the_spec_restores_the_names_and_the_file(uts: UtsNamespace, root: Path) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(store, root):
            await store.create(spec("web-01", "corp"))
            await ready(store)
            assert os.uname().nodename == "web-01"

            await store.teardown_and_destroy(at(SPECS))

            for kind in (STATUSES, ORIGINALS):
                with pytest.raises(NotFoundError):
                    await store.get(at(kind))

    uts.run(scenario())
    assert uts.witness() == (BEFORE, "(none)")
    assert hostname_file(root) == f"{BEFORE}\n"


def test_deleting_removes_a_file_there_was_not_and_leaves_an_unmanaged_domain(
    uts: UtsNamespace, root: Path
) -> None:
    (root / "etc" / "hostname").unlink()

    async def scenario() -> None:
        store = Store()
        async with running(store, root):
            await store.create(spec("web-01"))
            await ready(store)
            assert hostname_file(root) == "web-01\n"
            assert (await original(store)).file is None
            await store.teardown_and_destroy(at(SPECS))

    set_in(uts, BEFORE)
    uts.run(scenario())
    assert uts.witness() == (BEFORE, "(none)")
    assert hostname_file(root) is None
    assert os.listdir(root / "etc") == []


def test_the_originals_survive_a_restart_and_are_what_delete_restores(
    uts: UtsNamespace, root: Path
) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(store, root):
            await store.create(spec("web-01", "corp"))
            await ready(store)

        async with running(store, root) as second:  # finds web-01 in the kernel: not an original
            await ready(store)
            assert await original(store) == HostnameOriginal(
                hostname=BEFORE, domain="(none)", file=f"{BEFORE}\n"
            )
            assert second.metrics()["hostname"].applied == 0
            await store.teardown_and_destroy(at(SPECS))

    uts.run(scenario())
    assert uts.witness() == (BEFORE, "(none)")
    assert hostname_file(root) == f"{BEFORE}\n"


def test_a_write_the_kernel_refuses_shows_on_the_condition(uts: UtsNamespace, root: Path) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(store, root):
            await store.create(spec("web-01"))
            message = await failed(store)
            assert "CAP_SYS_ADMIN" in message
            assert "EPERM" in message
            assert await status(store) == HostnameStatus(
                hostname=BEFORE, domain="(none)", file=f"{BEFORE}\n"
            )

    with uts.without(CAP_SYS_ADMIN):
        uts.run(scenario())
    assert uts.witness()[0] == BEFORE
    assert hostname_file(root) == f"{BEFORE}\n"


def test_a_symlinked_file_shows_on_the_condition(
    uts: UtsNamespace, root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    target = tmp_path_factory.mktemp("elsewhere") / "hostname"
    target.write_text("theirs\n")
    (root / "etc" / "hostname").unlink()
    (root / "etc" / "hostname").symlink_to(target)

    async def scenario() -> None:
        store = Store()
        async with running(store, root):
            await store.create(spec("web-01"))
            assert "symlink" in await failed(store)

    uts.run(scenario())
    assert target.read_text() == "theirs\n"
    assert uts.witness()[0] == BEFORE


def test_a_second_hostname_spec_is_refused(uts: UtsNamespace, root: Path) -> None:
    async def scenario() -> None:
        store = Store()
        async with running(store, root):
            await store.create(spec("web-01"))
            await store.create(spec("web-02", item_id="another"))
            await ready(store)
            assert "one hostname" in await failed(store, "another")
            await store.teardown_and_destroy(at(SPECS, "another"))
            assert (await status(store)).hostname == "web-01"

    uts.run(scenario())
    assert uts.witness()[0] == "web-01"
