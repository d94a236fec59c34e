"""The mount drivers in an entered mount namespace (``domains.mounts.namespace: init``): PID 1's is
played by another process's, an ``unshare -m --propagation private sleep`` child's, entered
through its /proc/<pid>/ns/mnt. The driver is called from a thread with a private namespace of
its own (the guarded one of the other mount tests, standing for the hardened service's): mount,
remount, unmount, the table and its watch must all be the child's, witnessed there by
``nsenter -t <pid> -m findmnt``, while the caller's namespace (and the host's) stays as it was.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cosid.daemon.config import ConfigError, load_config
from cosid.drivers.mounts.kernel import KernelMountDriver
from cosid.drivers.mounts.namespace import EnteredMountNamespace
from cosid.drivers.mounts.policy import TargetPolicy
from cosid.drivers.mounts.watch import MountTableWatcher
from cosid.resources.mounts import MountSpec
from tests.drivers.mountns import MountNamespace, guarded_mountns

CALL_TIMEOUT = 10.0
QUIET = 0.2
"""How long a watcher must stay asleep to count as not woken."""


class OtherProcess:
    """A process in a private mount namespace of its own: the "init" side."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sleep", "60"]
        )
        self.namespace = f"/proc/{self.process.pid}/ns/mnt"
        comm = Path(f"/proc/{self.process.pid}/comm")
        deadline = time.monotonic() + CALL_TIMEOUT
        while comm.read_text() != "sleep\n":  # until unshare has made the namespace private
            assert time.monotonic() < deadline, "unshare did not start sleep"
            time.sleep(0.01)
        assert os.stat(self.namespace).st_ino != os.stat("/proc/self/ns/mnt").st_ino

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.process.pid), "-m", *command],
            capture_output=True, text=True, check=False, timeout=CALL_TIMEOUT,
        )  # fmt: skip

    def findmnt(self, path: str) -> list[dict[str, Any]]:
        """The mounts at `path` in the process's namespace, bottom first."""
        found = self.exec(
            "findmnt", "-J", "-n", "-o", "ID,TARGET,SOURCE,FSTYPE,OPTIONS", "--mountpoint", path
        )
        if found.returncode != 0:
            return []
        mounts: list[dict[str, Any]] = json.loads(found.stdout)["filesystems"]
        return mounts

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "mnt" / "data").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def own(root: Path) -> Iterator[MountNamespace]:
    """The caller's namespace, private (so a mount that went astray stays off the host)."""
    with guarded_mountns(root) as namespace:
        yield namespace


@pytest.fixture
def init(own: MountNamespace) -> Iterator[OtherProcess]:
    other = OtherProcess()
    try:
        yield other
    finally:
        other.close()


@pytest.fixture
def entered(init: OtherProcess) -> Iterator[EnteredMountNamespace]:
    namespace = EnteredMountNamespace(init.namespace)
    try:
        yield namespace
    finally:
        namespace.close()


@pytest.fixture
def driver(root: Path, entered: EnteredMountNamespace) -> KernelMountDriver:
    return KernelMountDriver(root, TargetPolicy(deny=["/"], deny_below=["/proc"]), entered)


def tmpfs(**options: Any) -> MountSpec:
    return MountSpec.model_validate({"target": "/mnt/data", "fstype": "tmpfs", "options": options})


def test_mount_remount_and_unmount_happen_in_the_entered_namespace(
    own: MountNamespace, init: OtherProcess, driver: KernelMountDriver
) -> None:
    real = driver.real_path("/mnt/data")
    spec = tmpfs(size="1m")
    own.run(driver.mount(spec))

    (shown,) = init.findmnt(real)
    assert (shown["fstype"], shown["source"]) == ("tmpfs", "tmpfs")
    assert own.findmnt(real) == [], "the caller's namespace is unchanged"
    entry = own.run(driver.find(spec.target))
    assert entry is not None
    assert entry.mount_id == int(shown["id"]), "the table is the child's"

    read_only = tmpfs(size="2m", ro=True)
    own.run(driver.reconfigure(read_only))
    (changed,) = init.findmnt(real)
    assert changed["id"] == shown["id"]
    assert {"ro", "size=2048k"} <= set(changed["options"].split(","))

    own.run(driver.unmount(spec.target, detach_busy=False))
    assert init.findmnt(real) == []
    assert own.run(driver.find(spec.target)) is None


def test_directories_are_made_in_the_entered_namespace(
    own: MountNamespace, init: OtherProcess, driver: KernelMountDriver, root: Path
) -> None:
    assert init.exec("mount", "-t", "tmpfs", "only-there", str(root / "mnt")).returncode == 0
    assert own.run(driver.missing("/mnt/new")) == "/mnt/new"
    own.run(driver.make_directories("/mnt/new"))

    assert init.exec("test", "-d", str(root / "mnt" / "new")).returncode == 0
    assert not (root / "mnt" / "new").exists(), "made on the child's tmpfs, not here"
    own.run(driver.remove_directories("/mnt/new", "/mnt/new"))
    assert init.exec("test", "-e", str(root / "mnt" / "new")).returncode != 0


async def woken(watcher: MountTableWatcher, within: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(anext(watcher), within)
    except TimeoutError:
        return False
    return True


def test_the_watch_sees_the_entered_namespace_only(
    own: MountNamespace, init: OtherProcess, driver: KernelMountDriver, root: Path
) -> None:
    target = str(root / "mnt" / "data")

    async def scenario() -> None:
        watcher = driver.changes()
        try:
            assert not await woken(watcher, QUIET), "no change yet"
            await asyncio.to_thread(own.exec, "mount", "-t", "tmpfs", "here", target)
            assert not await woken(watcher, QUIET), "the caller's namespace is not watched"
            await asyncio.to_thread(init.exec, "mount", "-t", "tmpfs", "there", target)
            assert await woken(watcher), "a change in the entered namespace wakes it"
        finally:
            watcher.close()

    own.run(scenario())


@pytest.mark.parametrize("path", ["/nonexistent/ns/mnt", "/proc/self/ns/net"])
def test_a_namespace_that_cannot_be_entered_fails_the_check(own: MountNamespace, path: str) -> None:
    namespace = EnteredMountNamespace(path)
    try:
        with pytest.raises(ConnectionError, match=f"cannot enter the mount namespace {path}"):
            own.run(namespace.check())
    finally:
        namespace.close()


# --- Configuration -------------------------------------------------------------------------------


def test_namespace_init_is_refused_in_the_sandbox() -> None:
    with pytest.raises(ConfigError, match="namespace init cannot run in a sandbox"):
        load_config(None, {"sandbox": True, "domains": {"mounts": {"namespace": "init"}}})


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is not installed")
def test_a_daemon_that_cannot_enter_pid_1s_namespace_says_so_and_exits(tmp_path: Path) -> None:
    """Without CAP_SYS_CHROOT (dropped from the bounding set) setns(2) is refused (or, where
    PID 1 belongs to someone the test cannot reach, its namespace file cannot be opened)."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        f"listen: unix://{tmp_path / 's.sock'}\n"
        f"root: {tmp_path / 'root'}\n"
        "domains: {mounts: {namespace: init}}\n"
    )
    done = subprocess.run(
        ["setpriv", "--bounding-set", "-sys_chroot", "--", sys.executable, "-m",
         "cosid.daemon.main", "--config", str(config)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        "cosid: domains.mounts.namespace is init, but cannot enter the mount namespace "
        "/proc/1/ns/mnt: "
    ) in done.stderr
    assert not (tmp_path / "s.sock").exists()
