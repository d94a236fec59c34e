"""`cosid --sandbox`: its own network, mount and UTS namespaces and a private root prefix, so the
host is left alone; still served over its socket; nothing unshared without it."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cosid.daemon.config import ConfigError, load_config
from cosid.daemon.main import parse_args
from cosid.daemon.sandbox import SANDBOX_HOSTNAME, needs_user_namespace
from tests.support.daemon import Daemon, daemon_config, running_daemon, running_daemon_with
from tests.support.wire import connect, create, get, make_resource

TYPE = "Sandboxes.test.cosi.dev"
NAMESPACES = ("net", "mnt", "uts", "user")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount")

_libc = ctypes.CDLL(None, use_errno=True)
MS_SHARED = 1 << 20
MNT_DETACH = 2

INSIDE = """
import ctypes, fcntl, json, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
for kind in sys.argv[2:]:
    fd = os.open(f"/proc/{sys.argv[1]}/ns/{kind}", os.O_RDONLY)
    if libc.setns(fd, 0) != 0:
        raise OSError(ctypes.get_errno(), f"setns {kind}")
    os.close(fd)
request = bytearray(struct.pack("16sH22x", b"lo", 0))
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    fcntl.ioctl(sock, 0x8913, request)  # SIOCGIFFLAGS
print(json.dumps({
    "hostname": socket.gethostname(),
    "links": [name for _, name in socket.if_nameindex()],
    "lo_up": bool(struct.unpack("16sH22x", request)[1] & 1),  # IFF_UP
}))
"""
"""Joins a process's namespaces (its user namespace first when it has its own) and reports
what it sees there."""

AS_ORDINARY_USER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
limit, command = sys.argv[1], sys.argv[2:]
uid, gid = os.geteuid(), os.getegid()  # before unsharing: after it, they read as unmapped
maps = {"uid_map": f"1000 {uid} 1", "setgroups": "deny", "gid_map": f"1000 {gid} 1"}
if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
    sys.exit(77)
for name, text in maps.items():
    with open(f"/proc/self/{name}", "w") as file:
        file.write(text)
if limit:
    with open("/proc/sys/user/max_user_namespaces", "w") as file:
        file.write(limit)  # how many user namespaces may be created inside this one
os.setresgid(1000, 1000, 1000)
os.setresuid(1000, 1000, 1000)
os.execv(command[0], command)
"""
"""Runs a command as uid 1000, without capabilities, in a user namespace of its own (so the
test needs no root and the command can still run this interpreter, wherever it is installed);
with a limit, the namespaces it may create inside are limited too."""


def namespaces(pid: int | str = "self") -> dict[str, str]:
    return {kind: os.readlink(f"/proc/{pid}/ns/{kind}") for kind in NAMESPACES}


def seen_inside(pid: int) -> dict[str, Any]:
    kinds = ["uts", "net"]
    if namespaces(pid)["user"] != namespaces()["user"]:
        kinds.insert(0, "user")
    done = subprocess.run(
        [sys.executable, "-c", INSIDE, str(pid), *kinds], capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def uid_map(pid: int) -> list[str]:
    """How `pid`'s user namespace maps uids, seen from this process's."""
    return Path(f"/proc/{pid}/uid_map").read_text().split()


def host_hostname() -> tuple[str, str]:
    return socket.gethostname(), Path("/proc/sys/kernel/hostname").read_text()


def record(daemon: Daemon, event: str) -> dict[str, Any]:
    records = [entry for entry in daemon.log_records() if entry["event"] == event]
    assert len(records) == 1, daemon.output()
    return records[0]


async def serves(daemon: Daemon) -> None:
    """A client on the host reaches the daemon through its socket and gets its answers."""
    async with connect(daemon.endpoint) as stub:
        created = await create(stub, make_resource("one", TYPE, yaml_spec="where: sandbox\n"))
        assert (await get(stub, TYPE, "one")).metadata.version == created.metadata.version


def assert_sandboxed(daemon: Daemon, root: Path, *, user_namespace: bool) -> None:
    assert daemon.process is not None
    pid = daemon.process.pid
    inside, outside = namespaces(pid), namespaces()
    for kind in ("net", "mnt", "uts"):
        assert inside[kind] != outside[kind], kind
    assert (inside["user"] != outside["user"]) is user_namespace
    assert seen_inside(pid) == {"hostname": SANDBOX_HOSTNAME, "links": ["lo"], "lo_up": True}
    assert (root / "etc").is_dir()
    logged = record(daemon, "sandbox")
    assert logged["hostname"] == SANDBOX_HOSTNAME
    assert logged["root"] == str(root)
    assert logged["user_namespace"] is user_namespace
    for kind in ("net", "mnt", "uts"):
        assert logged[f"{kind}_ns"] == os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    serving = record(daemon, "serving")
    assert (serving["sandbox"], serving["root"]) == (True, str(root))


async def test_sandbox_has_namespaces_and_a_root_of_its_own_and_serves() -> None:
    before = host_hostname()
    with running_daemon(sandbox=True) as daemon:
        root = daemon.workdir / "state" / "sandbox-root"
        assert_sandboxed(daemon, root, user_namespace=needs_user_namespace())
        await serves(daemon)
        assert host_hostname() == before


async def test_sandbox_and_root_from_the_command_line(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    with running_daemon_with(args=("--sandbox", "--root", str(root))) as daemon:
        assert_sandboxed(daemon, root, user_namespace=needs_user_namespace())
        await serves(daemon)
        assert not (daemon.workdir / "state" / "sandbox-root").exists()


async def test_without_sandbox_nothing_is_unshared(shared_daemon: Daemon) -> None:
    assert shared_daemon.process is not None
    assert namespaces(shared_daemon.process.pid) == namespaces()
    assert not [entry for entry in shared_daemon.log_records() if entry["event"] == "sandbox"]
    serving = record(shared_daemon, "serving")
    assert (serving["sandbox"], serving["root"]) == (False, "/")
    assert not (shared_daemon.workdir / "state" / "sandbox-root").exists()


def as_ordinary_user(limit: str = "") -> tuple[str, ...]:
    return (sys.executable, "-c", AS_ORDINARY_USER, limit)


def skip_without_user_namespaces(daemon: Daemon) -> None:
    assert daemon.process is not None
    if daemon.process.poll() == 77:
        pytest.skip("this system allows no user namespaces here at all")


async def test_an_ordinary_user_gets_a_user_namespace() -> None:
    """What `make run` does for a developer: no root, and the kernel keeps the host out of reach."""
    before = host_hostname()
    with running_daemon_with(sandbox=True, launcher=as_ordinary_user()) as daemon:
        assert daemon.process is not None
        root = daemon.workdir / "state" / "sandbox-root"
        assert_sandboxed(daemon, root, user_namespace=True)
        # root inside is uid 1000 of the launcher's namespace, which is this test's uid here
        assert uid_map(daemon.process.pid) == ["0", str(os.geteuid()), "1"]
        await serves(daemon)
        assert host_hostname() == before


def test_an_ordinary_user_is_told_when_user_namespaces_are_not_allowed() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="cosid-"))
    daemon = Daemon(workdir, daemon_config(workdir, sandbox=True), launcher=as_ordinary_user("0"))
    try:
        daemon.start(wait=False)
        assert daemon.process is not None
        code = daemon.process.wait(10)
        skip_without_user_namespaces(daemon)
        assert code == 1, daemon.output()
        assert "needs a user namespace when not run as root" in daemon.output()
        assert "user.max_user_namespaces" in daemon.output()
        assert "Traceback" not in daemon.output()
        assert not daemon.socket.exists()
    finally:
        daemon.stop()
        shutil.rmtree(daemon.workdir, ignore_errors=True)


@contextmanager
def shared_mount(path: Path) -> Iterator[None]:
    """A tmpfs at `path` whose mount events propagate to its peers, as under systemd."""
    path.mkdir()
    for source, fstype, flags in ((b"tmpfs", b"tmpfs", 0), (None, None, MS_SHARED)):
        if _libc.mount(source, bytes(path), fstype, flags, None) != 0:
            raise OSError(ctypes.get_errno(), f"mount {path}")
    try:
        yield
    finally:
        _libc.umount2(bytes(path), MNT_DETACH)


@needs_root
def test_mounts_on_the_host_do_not_reach_the_sandbox() -> None:
    """The copied mount table is private: a shared mount's later events stay on the host
    (and the sandbox's on its side)."""
    with tempfile.TemporaryDirectory(prefix="cosid-") as scratch:
        shared = Path(scratch) / "shared"
        with shared_mount(shared), running_daemon(sandbox=True) as daemon:
            assert daemon.process is not None
            mountinfo = Path(f"/proc/{daemon.process.pid}/mountinfo")
            entry = next(
                line for line in mountinfo.read_text().splitlines() if f" {shared} " in line
            )
            assert "shared:" not in entry.split(" - ")[0]
            with shared_mount(shared / "later"):
                assert f" {shared / 'later'} " not in mountinfo.read_text()


def test_the_sandbox_refuses_a_threaded_process(tmp_path: Path) -> None:
    """Namespaces belong to threads: entered late, the threads already running would stay out."""
    script = (
        "import sys, threading\n"
        "from pathlib import Path\n"
        "from cosid.daemon.sandbox import SandboxError, enter\n"
        "threading.Thread(target=threading.Event().wait, daemon=True).start()\n"
        "try:\n"
        "    enter(Path(sys.argv[1]))\n"
        "except SandboxError as error:\n"
        "    sys.exit(str(error))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "root")],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 1
    assert "before any thread starts (2 are running)" in done.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize(
    ("settings", "root"),
    [
        ({}, "/"),
        ({"sandbox": True, "state_dir": "/srv/cosid"}, "/srv/cosid/sandbox-root"),
        ({"sandbox": True, "state_dir": "rel/state"}, f"{os.getcwd()}/rel/state/sandbox-root"),
        ({"sandbox": True}, "/var/lib/cosid/sandbox-root"),
        ({"sandbox": True, "root": "/srv/tree"}, "/srv/tree"),
        ({"root": "/srv/tree"}, "/srv/tree"),
    ],
)
def test_root_prefix(settings: dict[str, object], root: str) -> None:
    assert load_config(None, settings).root == Path(root)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sandbox": True, "root": "/"}, "would write the host's files"),
        ({"root": "relative/tree"}, "root must be an absolute path"),
        ({"root": "/srv/../etc"}, "root must be an absolute path"),
        ({"sandbox": "yes"}, "sandbox\n  Input should be a valid boolean"),
    ],
)
def test_unusable_sandbox_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, settings)


def test_flags() -> None:
    args = parse_args(["--sandbox", "--root", "/srv/tree"])
    assert (args.sandbox, args.root) == (True, Path("/srv/tree"))
    args = parse_args([])
    assert (args.sandbox, args.root) == (None, None)  # so a config file's settings stand
