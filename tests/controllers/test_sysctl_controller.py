"""The sysctl controller under the real runtime and store, on a private /proc/sys tree.

The tree is plain files under a temporary root prefix (the driver's own root option), so these
tests never touch the host's kernel; the real /proc/sys is proven in network namespaces by the
driver's tests and by the daemon's integration tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cosid.controllers.sysctl import SysctlController
from cosid.drivers.sysctl.procfs import ProcfsSysctlDriver
from cosid.resources.document import from_spec, to_spec
from cosid.resources.sysctl import ORIGINALS, SPECS, STATUSES, SysctlSpec, SysctlStatus
from cosid.runtime.runtime import Runtime
from cosid.state.errors import NotFoundError
from cosid.state.resource import Kind, Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.runtime.conftest import FAST, condition_of, eventually


class Tree:
    """A fake /proc/sys under a root prefix."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / "proc" / "sys" / key.replace(".", "/")

    def set(self, key: str, value: str, *, writable: bool = True) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")
        path.chmod(0o644 if writable else 0o444)

    def get(self, key: str) -> str:
        return self.path(key).read_text().strip()


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    tree = Tree(tmp_path)
    tree.set("net.ipv4.ip_forward", "0")
    tree.set("net.core.somaxconn", "4096")
    tree.set("kernel.version", "#1 SMP", writable=False)
    return tree


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
async def runtime(store: Store, tree: Tree) -> AsyncIterator[Runtime]:
    started = Runtime(store, [SysctlController(ProcfsSysctlDriver(tree.root), None)], backoff=FAST)
    started.start()
    yield started
    await started.stop()


def spec(key: str, value: str, *, ignore_errors: bool = False) -> Resource:
    model = SysctlSpec(key=key, value=value, ignore_errors=ignore_errors)
    return Resource(Metadata(SPECS.namespace, SPECS.type, model.id), to_spec(model))


def at(kind: Kind, key: str) -> Pointer:
    return Pointer(kind.namespace, kind.type, key)


async def status(store: Store, key: str) -> SysctlStatus:
    return from_spec(SysctlStatus, (await store.get(at(STATUSES, key))).spec)


async def ready(store: Store, key: str) -> None:
    async def check() -> bool:
        condition = await condition_of(store, "sysctl", key, kind=SPECS)
        return condition is not None and condition.ready

    await eventually(check)


async def test_applying_sets_the_key_and_reports_current_and_original(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    await store.create(spec("net.ipv4.ip_forward", "1"))

    await ready(store, "net.ipv4.ip_forward")

    assert tree.get("net.ipv4.ip_forward") == "1"
    assert await status(store, "net.ipv4.ip_forward") == SysctlStatus(
        key="net.ipv4.ip_forward", supported=True, current="1", original="0"
    )
    assert runtime.metrics()["sysctl"].applied == 1


async def test_drift_is_repaired_on_resync_and_counted(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    await store.create(spec("net.core.somaxconn", "1024"))
    await ready(store, "net.core.somaxconn")

    tree.set("net.core.somaxconn", "128")  # someone ran sysctl -w behind cosid's back
    runtime.runs["sysctl"].refresh()

    async def repaired() -> bool:
        return runtime.metrics()["sysctl"].repairs == 1

    await eventually(repaired)
    assert tree.get("net.core.somaxconn") == "1024"
    assert (await status(store, "net.core.somaxconn")).original == "4096"


async def test_deleting_the_spec_restores_the_original_value(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    await store.create(spec("net.ipv4.ip_forward", "1"))
    await ready(store, "net.ipv4.ip_forward")

    await store.teardown_and_destroy(at(SPECS, "net.ipv4.ip_forward"))

    assert tree.get("net.ipv4.ip_forward") == "0"
    for kind in (STATUSES, ORIGINALS):
        with pytest.raises(NotFoundError):
            await store.get(at(kind, "net.ipv4.ip_forward"))


async def test_the_original_survives_a_restart_and_is_what_delete_restores(
    store: Store, tree: Tree
) -> None:
    controller = SysctlController(ProcfsSysctlDriver(tree.root), None)
    first = Runtime(store, [controller], backoff=FAST)
    first.start()
    await store.create(spec("net.ipv4.ip_forward", "1"))
    await ready(store, "net.ipv4.ip_forward")
    await first.stop()

    second = Runtime(store, [SysctlController(ProcfsSysctlDriver(tree.root), None)], backoff=FAST)
    second.start()
    try:
        await ready(store, "net.ipv4.ip_forward")
        assert (await status(store, "net.ipv4.ip_forward")).original == "0"
        await store.teardown_and_destroy(at(SPECS, "net.ipv4.ip_forward"))
        assert tree.get("net.ipv4.ip_forward") == "0"
    finally:
        await second.stop()


async def test_a_refused_write_shows_its_reason_and_the_others_still_converge(
    store: Store, tree: Tree, runtime: Runtime
) -> None:
    await store.create(spec("kernel.version", "mine"))
    await store.create(spec("net.ipv4.ip_forward", "1"))

    await ready(store, "net.ipv4.ip_forward")

    async def refused() -> bool:
        condition = await condition_of(store, "sysctl", "kernel.version", kind=SPECS)
        return condition is not None and condition.reason == "ReadOnly"

    await eventually(refused)
    condition = await condition_of(store, "sysctl", "kernel.version", kind=SPECS)
    assert condition is not None
    assert "read-only" in condition.message
    assert tree.get("kernel.version") == "#1 SMP"


async def test_an_unsupported_key_fails_unless_errors_are_ignored(
    store: Store, runtime: Runtime
) -> None:
    await store.create(spec("net.ipv4.no_such_key", "1"))
    await store.create(spec("net.ipv6.no_such_key", "1", ignore_errors=True))

    await ready(store, "net.ipv6.no_such_key")
    assert (await status(store, "net.ipv6.no_such_key")).supported is False

    async def unsupported() -> bool:
        condition = await condition_of(store, "sysctl", "net.ipv4.no_such_key", kind=SPECS)
        return condition is not None and "not supported" in condition.message

    await eventually(unsupported)
