"""cosi.dns.v1alpha1 end to end: the real daemon in --sandbox, driven through its typed service;
the result checked from outside, in the files under the daemon's private root.

One daemon serves the module (symlinks replaced, the default); each test leaves no spec
behind, since there is one resolver. The daemon that follows symlinks is its own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.resources import dns
from tests.support import specs
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub, typed_stub
from tests.support.wire import field_violations, rpc_error, status_code

ORIGINAL = b"# the distribution's\nnameserver 10.0.0.1\n"
STUB = b"nameserver 127.0.0.53\noptions edns0 trust-ad\n"
STUB_TARGET = "../run/systemd/resolve/stub-resolv.conf"
SPEC: dict[str, Any] = {
    "nameservers": ["192.0.2.53", "2001:DB8::53"],
    "search": ["Example.com"],
    "options": {"ndots": 2, "rotate": True},
}
WRITTEN = (
    b"# Written by cosid: edits are undone; change cosid's resolver spec instead.\n"
    b"nameserver 192.0.2.53\n"
    b"nameserver 2001:db8::53\n"
    b"search example.com\n"
    b"options ndots:2 rotate\n"
)


class Root:
    """The daemon's private root prefix, as the tests see it from outside."""

    def __init__(self, daemon: Daemon) -> None:
        self.path = Path(daemon.config["state_dir"]) / "sandbox-root"
        self.resolv_conf = self.path / "etc" / "resolv.conf"
        self.stub = self.path / "run" / "systemd" / "resolve" / "stub-resolv.conf"

    def put(self, content: bytes) -> None:
        self.resolv_conf.write_bytes(content)

    def link(self, target: str) -> None:
        self.stub.parent.mkdir(parents=True, exist_ok=True)
        self.stub.write_bytes(STUB)
        self.resolv_conf.symlink_to(target)

    def content(self) -> bytes | None:
        return self.resolv_conf.read_bytes() if self.resolv_conf.exists() else None

    def symlink(self) -> str | None:
        return os.readlink(self.resolv_conf) if self.resolv_conf.is_symlink() else None

    def clear(self) -> None:
        self.resolv_conf.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=0.2) as started:
        yield started


@pytest.fixture
def root(daemon: Daemon) -> Iterator[Root]:
    tree = Root(daemon)
    tree.clear()
    yield tree
    tree.clear()


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, dns.API) as opened:
        yield opened


def item(stub: TypedStub, spec: dict[str, Any] = SPEC, **meta: Any) -> Message:
    return stub.item(spec, **meta)


async def test_apply_writes_the_file_and_delete_restores_the_original(
    root: Root, stub: TypedStub
) -> None:
    root.put(ORIGINAL)

    reply = await stub.apply(item(stub), wait=True)

    [applied] = reply.items
    assert root.content() == WRITTEN
    assert applied.metadata.id == "resolver"
    assert list(applied.spec.nameservers) == ["192.0.2.53", "2001:db8::53"]
    assert list(applied.spec.search) == ["example.com"]
    status = applied.status
    assert (status.path, status.file, status.mode) == ("/etc/resolv.conf", "/etc/resolv.conf", 420)
    assert list(status.nameservers) == ["192.0.2.53", "2001:db8::53"]
    assert (list(status.search), list(status.options)) == (["example.com"], ["ndots:2", "rotate"])
    assert not status.HasField("symlink")
    assert status.HasField("original_sha256")
    assert (applied.condition.ready, applied.condition.reason) == (True, "Reconciled")
    assert [(c.id, c.action) for c in reply.changes] == [("resolver", common_pb2.ACTION_CREATE)]

    await stub.delete("resolver")

    assert root.content() == ORIGINAL
    assert await status_code(stub.get("resolver")) == grpc.StatusCode.NOT_FOUND


async def test_an_edit_is_repaired_and_delete_removes_a_file_that_was_not_there(
    root: Root, stub: TypedStub
) -> None:
    await stub.apply(item(stub), wait=True)

    root.put(b"nameserver 10.6.6.6\n")  # behind cosid's back

    async def repaired() -> bool:
        return root.content() == WRITTEN

    await specs.until(repaired)
    assert list((await stub.get("resolver")).status.nameservers) == ["192.0.2.53", "2001:db8::53"]

    await stub.delete("resolver")
    assert root.content() is None
    assert not root.resolv_conf.is_symlink()


async def test_a_symlink_is_replaced_and_put_back(root: Root, stub: TypedStub) -> None:
    root.link(STUB_TARGET)

    [applied] = (await stub.apply(item(stub), wait=True)).items

    assert root.symlink() is None
    assert root.content() == WRITTEN
    assert root.stub.read_bytes() == STUB
    assert applied.status.original_symlink == STUB_TARGET

    await stub.delete("resolver")

    assert root.symlink() == STUB_TARGET
    assert root.stub.read_bytes() == STUB


async def test_a_dry_run_shows_the_diff_and_changes_nothing(root: Root, stub: TypedStub) -> None:
    root.put(ORIGINAL)

    reply = await stub.apply(item(stub), dry_run=True)

    [change] = reply.changes
    assert (change.id, change.action) == ("resolver", common_pb2.ACTION_CREATE)
    assert "+  - 192.0.2.53" in change.diff.splitlines()
    assert await stub.list() == []
    assert root.content() == ORIGINAL


BAD_SPECS: list[tuple[dict[str, Any], set[str]]] = [
    ({"nameservers": ["1.2.3.4\nnameserver 6.6.6.6"]}, {"items[0].spec.nameservers[0]"}),
    ({"nameservers": ["192.0.2.1", "not-an-ip"]}, {"items[0].spec.nameservers[1]"}),
    ({"nameservers": ["fe80::1%eth0\nnameserver 6.6.6.6"]}, {"items[0].spec.nameservers[0]"}),
    (
        {"nameservers": ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]},
        {"items[0].spec.nameservers"},
    ),
    ({"nameservers": []}, {"items[0].spec.nameservers"}),
    (
        {"nameservers": ["192.0.2.1"], "search": ["example.com\noptions debug"]},
        {"items[0].spec.search[0]"},
    ),
    ({"nameservers": ["192.0.2.1"], "options": {"ndots": 16}}, {"items[0].spec.options.ndots"}),
    (
        {"nameservers": ["x"], "search": ["-bad"], "options": {"timeout": 0, "attempts": 6}},
        {
            "items[0].spec.nameservers[0]",
            "items[0].spec.search[0]",
            "items[0].spec.options.timeout",
            "items[0].spec.options.attempts",
        },
    ),
]


@pytest.mark.parametrize(
    ("spec", "fields"),
    BAD_SPECS,
    ids=["injected-line", "not-an-ip", "injected-zone", "four", "none", "search", "ndots", "all"],
)
async def test_bad_input_is_refused_naming_each_field_and_changes_nothing(
    root: Root, stub: TypedStub, spec: dict[str, Any], fields: set[str]
) -> None:
    root.put(ORIGINAL)

    error = await rpc_error(stub.apply(item(stub, spec), wait=True))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == fields
    assert await stub.list() == []
    assert root.content() == ORIGINAL


async def test_another_id_is_refused(root: Root, stub: TypedStub) -> None:
    error = await rpc_error(stub.apply(item(stub, id="eth0"), wait=True))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {
        "items[0].metadata.id": "is 'eth0', but the spec names 'resolver'"
    }
    assert await stub.list() == []
    assert root.content() is None


async def test_following_writes_through_the_link_and_refuses_one_out_of_the_root() -> None:
    config = {"domains": {"dns": {"symlink": "follow"}}}
    with running_daemon(sandbox=True, resync_seconds=0.2, **config) as daemon:
        root = Root(daemon)
        root.link(STUB_TARGET)
        async with typed_stub(daemon, dns.API) as stub:
            [applied] = (await stub.apply(item(stub), wait=True)).items

            assert root.symlink() == STUB_TARGET
            assert root.stub.read_bytes() == WRITTEN
            assert applied.status.file == "/run/systemd/resolve/stub-resolv.conf"
            assert applied.status.symlink == STUB_TARGET

            await stub.delete("resolver")
            assert (root.symlink(), root.stub.read_bytes()) == (STUB_TARGET, STUB)

            root.resolv_conf.unlink()
            root.resolv_conf.symlink_to("../../../../../../../../../../../etc/resolv.conf")
            error = await rpc_error(stub.apply(item(stub), wait=True, wait_timeout=5))

            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "SymlinkOutsideRoot" in (error.details() or "")
            [stored] = await stub.list()
            assert stored.condition.reason == "SymlinkOutsideRoot"
            assert not stored.status.HasField("file")

            await stub.delete("resolver")
            assert root.symlink() == "../../../../../../../../../../../etc/resolv.conf"
