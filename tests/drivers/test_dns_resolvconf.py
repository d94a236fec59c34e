"""The resolvconf DNS driver on real files under a temporary root prefix: exact content, atomic
replacement, mode 0644 and the owner kept, every symlink case under both policies (a link to a
stub file, dangling, into a missing directory, out of the root, looping), restoring what was
there, and the errors that say why not."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cosid.drivers import paths
from cosid.drivers.dns import (
    DnsDriver,
    DnsError,
    DnsNotAFileError,
    DnsPermissionError,
    DnsReadError,
    DnsReadOnlyError,
    DnsSymlinkDanglingError,
    DnsSymlinkError,
    DnsSymlinkLoopError,
    DnsSymlinkOutsideRootError,
    DnsWriteError,
    RegularFile,
    ResolvConf,
)
from cosid.drivers.dns.chase import MAX_SYMLINKS
from cosid.drivers.dns.resolvconf import MAX_READ_BYTES, ResolvConfDriver
from tests.drivers.readonly import read_only_directory

OURS = b"# cosid\nnameserver 192.0.2.53\n"
STUB = b"# the stub resolver's\nnameserver 127.0.0.53\noptions edns0 trust-ad\n"
STUB_TARGET = "../run/systemd/resolve/stub-resolv.conf"
OTHER_UID, OTHER_GID = 1234, 5678


def as_driver(driver: ResolvConfDriver) -> DnsDriver:
    """Never called: mypy checks here that the driver implements the Protocol."""
    return driver


class Tree:
    """<base>/root with /etc and a stub resolver's file under /run, and a file outside the root
    to protect; touched directly, to set the scene and witness what the driver did."""

    def __init__(self, base: Path) -> None:
        self.root = base / "root"
        self.etc = self.root / "etc"
        self.etc.mkdir(parents=True)
        self.resolv_conf = self.etc / "resolv.conf"
        self.stub = self.root / "run" / "systemd" / "resolve" / "stub-resolv.conf"
        self.stub.parent.mkdir(parents=True)
        self.stub.write_bytes(STUB)
        self.outside = base / "outside"
        self.outside.mkdir()
        (self.outside / "resolv.conf").write_bytes(b"nameserver 10.6.6.6\n")

    def put(self, content: bytes, mode: int = 0o644) -> None:
        self.resolv_conf.write_bytes(content)
        self.resolv_conf.chmod(mode)

    def link(self, target: str) -> None:
        self.resolv_conf.symlink_to(target)

    def content(self) -> bytes:
        return self.resolv_conf.read_bytes()

    def mode(self) -> int:
        return stat.S_IMODE(self.resolv_conf.stat().st_mode)

    def symlink(self) -> str | None:
        """The link's target, None when /etc/resolv.conf is not a symlink."""
        return os.readlink(self.resolv_conf) if self.resolv_conf.is_symlink() else None

    def is_regular_file(self) -> bool:
        return stat.S_ISREG(self.resolv_conf.lstat().st_mode)

    def entries(self) -> list[str]:
        """What /etc holds: never a temporary file left behind."""
        return sorted(os.listdir(self.etc))

    def outside_untouched(self) -> bool:
        return (self.outside / "resolv.conf").read_bytes() == b"nameserver 10.6.6.6\n" and (
            sorted(os.listdir(self.outside)) == ["resolv.conf"]
        )


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


@pytest.fixture
def replacing(tree: Tree) -> ResolvConfDriver:
    return ResolvConfDriver(tree.root)


@pytest.fixture
def following(tree: Tree) -> ResolvConfDriver:
    return ResolvConfDriver(tree.root, symlink="follow")


def every_call(driver: ResolvConfDriver) -> list[Callable[[], Awaitable[object]]]:
    """Each thing the driver does: read, write, restore a file's absence, restore a link."""
    return [
        driver.read,
        lambda: driver.write(OURS),
        lambda: driver.restore(None, None, 0o644),
        lambda: driver.restore(STUB_TARGET, None, 0o644),
    ]


def new_owner() -> tuple[int, int]:
    return (0, 0) if os.geteuid() == 0 else (os.geteuid(), os.getegid())


# --- a regular file --------------------------------------------------------------------------


async def test_a_new_file_has_the_content_and_is_0644(
    tree: Tree, replacing: ResolvConfDriver
) -> None:
    assert await replacing.read() == ResolvConf()

    await replacing.write(OURS)

    assert tree.content() == OURS
    assert tree.mode() == 0o644
    status = tree.resolv_conf.stat()
    assert (status.st_uid, status.st_gid) == new_owner()
    found = await replacing.read()
    assert found == ResolvConf(file=RegularFile("/etc/resolv.conf", OURS, 0o644))
    assert replacing.holds(found, OURS)
    assert not replacing.holds(found, OURS + b"\n")
    assert tree.entries() == ["resolv.conf"]
    assert replacing.path == "/etc/resolv.conf"
    assert replacing.watched_paths == (tree.resolv_conf,)


async def test_a_write_makes_the_file_0644_and_keeps_its_owner(
    tree: Tree, replacing: ResolvConfDriver
) -> None:
    tree.put(b"nameserver 10.0.0.1\n", mode=0o600)
    if os.geteuid() == 0:
        os.chown(tree.resolv_conf, OTHER_UID, OTHER_GID)
    owner = tree.resolv_conf.stat()
    found = await replacing.read()
    assert found.file is not None
    assert found.file.mode == 0o600
    assert not replacing.holds(found, b"nameserver 10.0.0.1\n"), "the mode is part of it"

    await replacing.write(b"nameserver 10.0.0.1\n")

    assert tree.mode() == 0o644
    status = tree.resolv_conf.stat()
    assert (status.st_uid, status.st_gid) == (owner.st_uid, owner.st_gid)
    assert replacing.holds(await replacing.read(), b"nameserver 10.0.0.1\n")


async def test_a_write_is_a_new_file_renamed_into_place(
    tree: Tree, replacing: ResolvConfDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree.put(STUB)
    seen: list[tuple[bytes, bytes, int]] = []
    rename = os.rename

    def spying_rename(source: str, target: str, **kwargs: int) -> None:
        temporary = tree.etc / source
        seen.append((tree.content(), temporary.read_bytes(), temporary.stat().st_mode & 0o7777))
        rename(source, target, **kwargs)

    monkeypatch.setattr(os, "rename", spying_rename)
    with tree.resolv_conf.open("rb") as reader:
        await replacing.write(OURS)
        assert reader.read() == STUB

    assert seen == [(STUB, OURS, 0o644)]
    assert tree.content() == OURS
    assert tree.entries() == ["resolv.conf"]


@pytest.mark.parametrize(
    ("code", "error", "reason"),
    [
        (errno.ENOSPC, DnsWriteError, "WriteFailed"),
        (errno.EROFS, DnsReadOnlyError, "ReadOnly"),
        (errno.EPERM, DnsPermissionError, "PermissionDenied"),
    ],
)
async def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tree: Tree,
    replacing: ResolvConfDriver,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    error: type[DnsWriteError],
    reason: str,
) -> None:
    tree.put(STUB)

    def failing_rename(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "rename", failing_rename)

    with pytest.raises(DnsWriteError) as raised:
        await replacing.write(OURS)

    assert type(raised.value) is error
    assert (raised.value.reason, raised.value.errno) == (reason, code)
    assert tree.content() == STUB
    assert tree.entries() == ["resolv.conf"]


async def test_restoring_a_file_or_nothing(tree: Tree, replacing: ResolvConfDriver) -> None:
    tree.put(b"\xffnot text\n", mode=0o640)
    await replacing.write(OURS)

    await replacing.restore(None, b"\xffnot text\n", 0o640)

    assert (tree.content(), tree.mode()) == (b"\xffnot text\n", 0o640)

    await replacing.restore(None, None, 0o644)

    assert tree.entries() == []
    await replacing.restore(None, None, 0o644)  # nothing there: nothing to do


# --- a symlink, replaced ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", [STUB_TARGET, "/run/systemd/resolve/stub-resolv.conf"], ids=["relative", "absolute"]
)
async def test_replace_reads_through_the_link_and_replaces_it_with_a_file(
    tree: Tree, replacing: ResolvConfDriver, target: str
) -> None:
    """An absolute target is the node's path: under the root prefix, not the host's."""
    tree.link(target)

    found = await replacing.read()

    stub = RegularFile("/run/systemd/resolve/stub-resolv.conf", STUB, 0o644)
    assert found == ResolvConf(symlink=target, file=stub)
    assert not replacing.holds(found, STUB), "a link is not cosid's file, whatever it says"

    await replacing.write(OURS)

    assert tree.is_regular_file()
    assert (tree.content(), tree.mode()) == (OURS, 0o644)
    assert tree.stub.read_bytes() == STUB, "the link's file is not touched"
    assert replacing.holds(await replacing.read(), OURS)

    await replacing.restore(target, STUB, 0o644)

    assert tree.symlink() == target
    assert tree.stub.read_bytes() == STUB
    assert tree.entries() == ["resolv.conf"]
    await replacing.restore(target, STUB, 0o644)  # already the link: nothing to do
    assert tree.symlink() == target


@pytest.mark.parametrize(
    "target",
    ["../../outside/resolv.conf", "../run/missing/resolv.conf", "../run", "loop"],
    ids=["outside-root", "into-a-missing-directory", "directory", "loop"],
)
async def test_replace_replaces_any_link_and_puts_it_back(
    tree: Tree, replacing: ResolvConfDriver, target: str
) -> None:
    tree.link(target)
    (tree.etc / "loop").symlink_to("resolv.conf")

    assert await replacing.read() == ResolvConf(symlink=target), "no file a resolver reads"

    await replacing.write(OURS)
    assert tree.is_regular_file()
    assert tree.content() == OURS

    await replacing.restore(target, None, 0o644)
    assert tree.symlink() == target
    assert tree.outside_untouched()


# --- a symlink, followed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        STUB_TARGET,
        "/run/systemd/resolve/stub-resolv.conf",
        "/var/run/systemd/resolve/stub-resolv.conf",
        "./../etc/../run/systemd//resolve/./stub-resolv.conf",
        "hop",
    ],
    ids=["relative", "absolute", "through-a-linked-directory", "unnormalised", "link-to-link"],
)
async def test_follow_writes_the_file_the_link_leads_to(
    tree: Tree, following: ResolvConfDriver, target: str
) -> None:
    (tree.root / "var").mkdir()
    (tree.root / "var" / "run").symlink_to("../run")
    (tree.etc / "hop").symlink_to("/var/run/systemd/resolve/stub-resolv.conf")
    tree.stub.chmod(0o640)
    tree.link(target)

    found = await following.read()
    stub = RegularFile("/run/systemd/resolve/stub-resolv.conf", STUB, 0o640)
    assert found == ResolvConf(symlink=target, file=stub)

    await following.write(OURS)

    assert tree.symlink() == target, "the link stays"
    assert (tree.stub.read_bytes(), stat.S_IMODE(tree.stub.stat().st_mode)) == (OURS, 0o644)
    found = await following.read()
    assert found.symlink == target
    assert following.holds(found, OURS)
    assert sorted(os.listdir(tree.stub.parent)) == ["stub-resolv.conf"]

    await following.restore(target, STUB, 0o640)

    assert tree.symlink() == target
    assert (tree.stub.read_bytes(), stat.S_IMODE(tree.stub.stat().st_mode)) == (STUB, 0o640)


async def test_follow_creates_a_missing_file_and_restore_removes_it(
    tree: Tree, following: ResolvConfDriver
) -> None:
    tree.stub.unlink()
    tree.link(STUB_TARGET)
    assert await following.read() == ResolvConf(symlink=STUB_TARGET)

    await following.write(OURS)

    assert tree.stub.read_bytes() == OURS
    assert tree.symlink() == STUB_TARGET

    await following.restore(STUB_TARGET, None, 0o644)

    assert not tree.stub.exists()
    assert tree.symlink() == STUB_TARGET, "dangling again, as it was"


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        (
            "../../outside/resolv.conf",
            DnsSymlinkOutsideRootError,
            "points to '../../outside/resolv.conf', out of the root",
        ),
        ("/../outside/resolv.conf", DnsSymlinkOutsideRootError, "out of the root"),
        ("escape", DnsSymlinkOutsideRootError, "out of the root"),
        (
            "../run/missing/resolv.conf",
            DnsSymlinkDanglingError,
            "into /run/missing, which does not exist",
        ),
        ("OUTSIDE_ABSOLUTE", DnsSymlinkDanglingError, "which does not exist"),
        (
            "../run/systemd/resolve/stub-resolv.conf/x",
            DnsSymlinkDanglingError,
            "through /run/systemd/resolve/stub-resolv.conf, which is not a directory",
        ),
        ("loop", DnsSymlinkLoopError, f"through more than {MAX_SYMLINKS} symlinks"),
        ("../run", DnsNotAFileError, "is not a regular file"),
        ("..", DnsNotAFileError, "the root directory"),
    ],
    ids=[
        "outside-root",
        "outside-root-from-slash",
        "outside-root-through-a-link",
        "into-a-missing-directory",
        "a-host-path",
        "through-a-file",
        "loop",
        "a-directory",
        "the-root",
    ],
)
async def test_follow_refuses_a_link_it_cannot_write_through(
    tree: Tree, following: ResolvConfDriver, target: str, error: type[DnsError], message: str
) -> None:
    """The host path of a file outside the root is, for the node, a path under the root that
    does not exist: dangling, never the host's file."""
    if target == "OUTSIDE_ABSOLUTE":
        target = str(tree.outside / "resolv.conf")
    (tree.etc / "loop").symlink_to("loop2")
    (tree.etc / "loop2").symlink_to("loop")
    (tree.etc / "escape").symlink_to("../../..")
    tree.link(target)

    assert await following.read() == ResolvConf(symlink=target)
    with pytest.raises(error, match=message) as raised:
        await following.write(OURS)

    assert isinstance(raised.value, DnsError)
    assert str(tree.root) not in str(raised.value), "messages name the node's paths"
    assert tree.symlink() == target
    assert tree.outside_untouched()
    assert tree.stub.read_bytes() == STUB
    await following.restore(target, None, 0o644)  # nowhere cosid could have written: done
    assert tree.symlink() == target
    assert tree.outside_untouched()


async def test_follow_writes_a_regular_file_in_place(
    tree: Tree, following: ResolvConfDriver
) -> None:
    await following.write(OURS)
    assert tree.is_regular_file()
    assert tree.content() == OURS


async def test_a_regular_file_is_put_back_over_a_link_that_appeared(
    tree: Tree, following: ResolvConfDriver
) -> None:
    tree.put(b"nameserver 10.0.0.1\n")
    await following.write(OURS)
    tree.resolv_conf.unlink()
    tree.link(STUB_TARGET)

    await following.restore(None, b"nameserver 10.0.0.1\n", 0o644)

    assert tree.is_regular_file()
    assert tree.content() == b"nameserver 10.0.0.1\n"
    assert tree.stub.read_bytes() == STUB


# --- symlinks cosid never follows ------------------------------------------------------------


@pytest.mark.parametrize("way", ["openat2", "realpath"])
async def test_a_symlinked_etc_is_refused(
    tree: Tree, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    if way == "realpath":
        monkeypatch.setattr(paths, "_openat2", None)
    elif not paths.openat2_available():
        pytest.skip("this kernel has no openat2")
    tree.etc.rmdir()
    tree.etc.symlink_to(tree.outside)

    for driver in (ResolvConfDriver(tree.root), ResolvConfDriver(tree.root, symlink="follow")):
        for call in every_call(driver):
            with pytest.raises(DnsSymlinkError, match="symlink") as raised:
                await call()
            assert raised.value.reason == "Symlink"
    assert tree.outside_untouched()


async def test_follow_refuses_a_symlinked_directory_on_the_final_path(
    tree: Tree, following: ResolvConfDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory swapped for a symlink after the link was followed: the open refuses it."""
    tree.link(STUB_TARGET)
    real_chase = following._chase

    def chase_then_swap(link: str) -> str:
        found = real_chase(link)
        resolve = tree.stub.parent
        resolve.rename(resolve.with_name("resolve.old"))
        resolve.symlink_to(tree.outside)
        return found

    monkeypatch.setattr(following, "_chase", chase_then_swap)
    with pytest.raises(DnsSymlinkError) as raised:
        await following.write(OURS)
    assert raised.value.reason == "Symlink"
    assert tree.outside_untouched()


def test_the_root_prefix_itself_may_be_a_symlink(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    (tmp_path / "link").symlink_to(tree.root)
    assert ResolvConfDriver(tmp_path / "link").watched_paths == (tree.resolv_conf,)


# --- errors ----------------------------------------------------------------------------------


async def test_without_etc_there_is_nothing_to_read_or_remove_and_nowhere_to_write(
    tree: Tree, replacing: ResolvConfDriver
) -> None:
    tree.etc.rmdir()

    assert await replacing.read() == ResolvConf()
    await replacing.restore(None, None, 0o644)
    with pytest.raises(DnsWriteError) as raised:
        await replacing.write(OURS)

    assert type(raised.value) is DnsWriteError
    assert str(raised.value) == "/etc: cannot be opened: ENOENT (No such file or directory)"


@pytest.mark.parametrize("make", [os.mkdir, os.mkfifo], ids=["directory", "fifo"])
async def test_something_other_than_a_file_is_refused(
    tree: Tree, replacing: ResolvConfDriver, make: Callable[[Path], None]
) -> None:
    make(tree.resolv_conf)

    for call in every_call(replacing):
        with pytest.raises(DnsNotAFileError, match="not a regular file") as raised:
            await call()
        assert raised.value.reason == "NotAFile"
    assert tree.entries() == ["resolv.conf"]


async def test_a_read_only_directory_refuses_the_write(
    tree: Tree, replacing: ResolvConfDriver
) -> None:
    tree.put(STUB)

    with read_only_directory(tree.etc):
        with pytest.raises(DnsPermissionError) as raised:
            await replacing.write(OURS)
        with pytest.raises(DnsPermissionError):
            await replacing.restore(STUB_TARGET, None, 0o644)

    assert raised.value.reason == "PermissionDenied"
    assert str(raised.value).startswith("/etc/resolv.conf: cannot be replaced by cosid: E")
    assert tree.content() == STUB
    assert tree.entries() == ["resolv.conf"]


async def test_a_file_larger_than_a_resolver_configuration_is_not_read(
    tree: Tree, replacing: ResolvConfDriver
) -> None:
    tree.put(b"#" * MAX_READ_BYTES)
    assert (await replacing.read()).file is not None

    tree.put(b"#" * (MAX_READ_BYTES + 1))

    with pytest.raises(DnsReadError, match="larger than") as raised:
        await replacing.read()
    assert raised.value.reason == "ReadFailed"


def test_errors_share_one_base_and_have_distinct_reasons() -> None:
    errors: list[type[DnsError]] = [
        DnsError,
        DnsSymlinkError,
        DnsSymlinkOutsideRootError,
        DnsSymlinkDanglingError,
        DnsSymlinkLoopError,
        DnsNotAFileError,
        DnsReadError,
        DnsWriteError,
        DnsPermissionError,
        DnsReadOnlyError,
    ]
    assert all(issubclass(error, DnsError) for error in errors)
    for error in (DnsSymlinkOutsideRootError, DnsSymlinkDanglingError, DnsSymlinkLoopError):
        assert issubclass(error, DnsSymlinkError)
    assert issubclass(DnsPermissionError, DnsWriteError)
    assert issubclass(DnsReadOnlyError, DnsWriteError)
    assert len({error.reason for error in errors}) == len(errors)
