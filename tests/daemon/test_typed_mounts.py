"""cosi.mounts.v1alpha1 end to end: the real daemon in --sandbox (its own mount namespace, and a
private root prefix the targets are under), driven through its typed service; the mount table
checked from outside with `findmnt` in the daemon's mount namespace, and the host's checked
unchanged.

One daemon serves the module; each test uses targets of its own.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.daemon.config import SANDBOX_ROOT
from cosid.resources import mounts
from tests.support import specs
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub, in_daemon_namespaces, status_details, typed_stub
from tests.support.wire import field_violations, rpc_error, status_code

CREATE, UNCHANGED = common_pb2.ACTION_CREATE, common_pb2.ACTION_UNCHANGED
KERNEL_HAS_VFAT = "vfat" in Path("/proc/filesystems").read_text().split()


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=0.2) as started:
        (root_of(started) / "mnt").mkdir()
        yield started


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, mounts.API) as opened:
        yield opened


def root_of(daemon: Daemon) -> Path:
    return Path(daemon.config["state_dir"]).absolute() / SANDBOX_ROOT


def mounted(daemon: Daemon, target: str) -> list[dict[str, Any]]:
    """The mounts at a target (under the sandbox's root) in the daemon's mount namespace,
    bottom first, as findmnt there shows them."""
    assert daemon.process is not None
    command = ["nsenter", "-t", str(daemon.process.pid), "-m", "findmnt", "-J", "-n"]
    command += ["-o", "ID,SOURCE,FSTYPE,OPTIONS", "--mountpoint", f"{root_of(daemon)}{target}"]
    found = subprocess.run(command, capture_output=True, text=True, timeout=10)
    if found.returncode != 0:
        return []
    filesystems: list[dict[str, Any]] = json.loads(found.stdout)["filesystems"]
    return filesystems


def on_the_host(daemon: Daemon, target: str) -> bool:
    """Whether the host's mount table has anything at the target under the sandbox's root."""
    found = subprocess.run(
        ["findmnt", "--mountpoint", f"{root_of(daemon)}{target}"], capture_output=True, timeout=10
    )
    return found.returncode == 0


def item(stub: TypedStub, target: str, **spec: Any) -> Message:
    return stub.item({"target": target, **spec})


def tmpfs(stub: TypedStub, target: str, **options: Any) -> Message:
    return item(stub, target, fstype="tmpfs", mkdir=True, options=options)


async def test_apply_with_wait_mounts_and_delete_unmounts(daemon: Daemon, stub: TypedStub) -> None:
    target = "/mnt/scratch/data"

    reply = await stub.apply(tmpfs(stub, target, size="1m", nosuid=True), wait=True)

    [applied] = reply.items
    assert [(c.id, c.action) for c in reply.changes] == [(target, CREATE)]
    assert (applied.condition.ready, applied.condition.reason) == (True, "Reconciled")
    status = applied.status
    assert (status.mounted, status.matches, status.fstype) == (True, True, "tmpfs")
    assert status.created_from == "/mnt/scratch"
    assert "size=1024k" in status.super_options
    [shown] = mounted(daemon, target)
    assert (shown["id"], shown["fstype"]) == (status.mount_id, "tmpfs")
    assert "nosuid" in shown["options"].split(",")
    assert not on_the_host(daemon, target), "the sandbox's mounts stay in its namespace"

    again = await stub.apply(tmpfs(stub, target, size="1024k", nosuid=True), wait=True)
    assert [c.action for c in again.changes] == [UNCHANGED], "the same size, written otherwise"

    await stub.delete(target)
    assert mounted(daemon, target) == []
    assert not (root_of(daemon) / "mnt" / "scratch").exists(), "the directories it made are gone"
    assert await status_code(stub.get(target)) == grpc.StatusCode.NOT_FOUND


async def test_an_external_unmount_is_repaired(daemon: Daemon, stub: TypedStub) -> None:
    target = "/mnt/repaired"
    await stub.apply(tmpfs(stub, target), wait=True)

    in_daemon_namespaces(daemon, "-m", "umount", f"{root_of(daemon)}{target}")

    async def repaired() -> bool:
        return len(mounted(daemon, target)) == 1 and bool((await stub.get(target)).status.matches)

    await specs.until(repaired)
    assert any(
        record.get("event") == "repaired drift" and target in record.get("item", "")
        for record in daemon.log_records()
    )
    await stub.delete(target)


async def test_bind_and_overlay(daemon: Daemon, stub: TypedStub) -> None:
    root = root_of(daemon)
    for directory in ("srv/shared", "layers/lower1", "layers/lower2", "layers/up", "layers/work"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "layers/lower2/file").write_text("from lower2\n")

    reply = await stub.apply(
        item(
            stub, "/mnt/bound", source="/srv/shared", mkdir=True, options={"bind": True, "ro": True}
        ),
        item(
            stub,
            "/mnt/merged",
            fstype="overlay",
            mkdir=True,
            options={
                "lowerdir": ["/layers/lower1", "/layers/lower2"],
                "upperdir": "/layers/up",
                "workdir": "/layers/work",
            },
        ),
        wait=True,
    )

    bound, merged = sorted(reply.items, key=lambda view: view.metadata.id)
    assert bound.status.matches
    assert "ro" in bound.status.mount_options
    assert merged.status.fstype == "overlay"
    [shown] = mounted(daemon, "/mnt/merged")
    assert f"lowerdir={root}/layers/lower1:{root}/layers/lower2" in shown["options"].split(",")
    for target in ("/mnt/bound", "/mnt/merged"):
        await stub.delete(target)
        assert mounted(daemon, target) == []


async def test_a_batch_with_bad_items_names_each_and_stores_nothing(stub: TypedStub) -> None:
    error = await rpc_error(
        stub.apply(
            tmpfs(stub, "/mnt/good"),
            tmpfs(stub, "mnt/relative"),
            tmpfs(stub, "/mnt/../etc"),
            item(stub, "/mnt/nfs", fstype="nfs"),
            tmpfs(stub, "/mnt/size", size="1 GB"),
            tmpfs(stub, "/mnt/inject", data={"uid": "0,mode=4777"}),
            tmpfs(stub, "/mnt/huh", data={"size": "1m"}),
            item(stub, "/mnt/overlay", fstype="overlay", options={"lowerdir": ["/a:/b"]}),
            item(stub, "/mnt/bind", options={"bind": True}),
            tmpfs(stub, "/mnt/mode", mode="rwx"),
            stub.item({"target": "/mnt/other", "fstype": "tmpfs"}, id="/mnt/else"),
            tmpfs(stub, "/mnt/line\nbreak"),
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(error)
    assert violations == {
        "items[1].spec.target": "must be an absolute path",
        "items[2].spec.target": "must not have '.' or '..' components",
        "items[3].spec.fstype": violations["items[3].spec.fstype"],
        "items[4].spec.options.size": (
            "must be bytes, with a k, m, g or t suffix, or a percentage like 50%"
        ),
        "items[5].spec.options.data.uid": violations["items[5].spec.options.data.uid"],
        "items[6].spec.options.data.size": violations["items[6].spec.options.data.size"],
        "items[7].spec.options.lowerdir[0]": "must not contain ':': it is overlay's option syntax",
        "items[8].spec.source": "is required: the directory or file to bind",
        "items[9].spec.options.mode": "must be 3 or 4 octal digits, like '0755' or '1777'",
        "items[10].metadata.id": "is '/mnt/else', but the spec names '/mnt/other'",
        "items[11].spec.target": "must not contain control characters or line breaks",
    }
    assert violations["items[3].spec.fstype"].startswith("must be one of btrfs, cgroup2")
    assert "no ','" in violations["items[5].spec.options.data.uid"]
    assert "not an option cosid passes to tmpfs" in violations["items[6].spec.options.data.size"]
    assert await stub.list() == []


@pytest.mark.skipif(KERNEL_HAS_VFAT, reason="this kernel has vfat")
async def test_refusals_end_the_wait_with_their_reason_and_the_rest_converge(
    daemon: Daemon, stub: TypedStub
) -> None:
    device = root_of(daemon) / "dev" / "fake"
    device.parent.mkdir(exist_ok=True)
    os.mknod(device, 0o600 | stat.S_IFBLK, os.makedev(7, 250))
    expected = {
        "/mnt/vfat": "UnknownFilesystem",
        "/mnt/absent": "SourceNotFound",
    }

    error = await rpc_error(
        stub.apply(
            tmpfs(stub, "/mnt/fine"),
            item(stub, "/mnt/vfat", fstype="vfat", source="/dev/fake", mkdir=True),
            item(stub, "/mnt/absent", fstype="ext4", source="/dev/absent", mkdir=True),
            wait=True,
        )
    )

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    [response] = status_details(error, mounts.API.apply_response_message)
    assert {view.metadata.id for view in response.items} <= set(expected)

    async def settled() -> bool:
        views = {target: await stub.get(target) for target in ("/mnt/fine", *expected)}
        return views["/mnt/fine"].condition.ready and all(
            views[target].condition.reason == reason for target, reason in expected.items()
        )

    await specs.until(settled)
    assert len(mounted(daemon, "/mnt/fine")) == 1
    for target in ("/mnt/fine", *expected):
        await stub.delete(target)
    assert list((root_of(daemon) / "mnt").iterdir()) == []
