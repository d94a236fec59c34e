"""The file MOTD driver on real files under a temporary root prefix: exact content, atomic
replacement, mode and owner kept, symlinks refused, removal, and the errors that say why not."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from cosid.drivers import paths
from cosid.drivers.motd import (
    MotdError,
    MotdFile,
    MotdNotAFileError,
    MotdPermissionError,
    MotdReadError,
    MotdReadOnlyError,
    MotdSymlinkError,
    MotdWriteError,
)
from cosid.drivers.motd.driver import MotdDriver
from cosid.drivers.motd.file import MAX_READ_BYTES, FileMotdDriver
from cosid.resources.files import digest
from tests.drivers.readonly import read_only_directory

OTHER_UID, OTHER_GID = 1234, 5678


def as_driver(driver: FileMotdDriver) -> MotdDriver:
    """Never called: mypy checks here that the file driver implements the Protocol."""
    return driver


def make_tree(base: Path) -> Path:
    """<base>/root/etc, and a file outside the root to protect."""
    root = base / "root"
    (root / "etc").mkdir(parents=True)
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret").write_text("SECRET\n")
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


class Motd:
    """A file (<root>/etc/motd), touched directly: how tests set the scene and witness what
    the driver did."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.etc = path.parent

    def put(self, content: bytes, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
        self.path.write_bytes(content)
        if owner is not None:
            os.chown(self.path, *owner)
        self.path.chmod(mode)

    def content(self) -> bytes:
        return self.path.read_bytes()

    def permissions(self) -> tuple[int, int, int]:
        """Mode, uid and gid."""
        status = self.path.stat()
        return stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid

    def inode(self) -> int:
        return self.path.stat().st_ino

    def exists(self) -> bool:
        return self.path.exists()

    def link_to(self, target: Path) -> None:
        self.path.symlink_to(target)

    def is_symlink(self) -> bool:
        return self.path.is_symlink()

    def entries(self) -> list[str]:
        """What /etc holds: the file, and never a temporary one left behind."""
        return entries(self.etc)


@pytest.fixture
def motd(root: Path) -> Motd:
    return Motd(root / "etc" / "motd")


@pytest.fixture(params=["openat2", "realpath"])
def driver(
    request: pytest.FixtureRequest, root: Path, monkeypatch: pytest.MonkeyPatch
) -> FileMotdDriver:
    """The driver on the private tree, refusing symlinks in each of the two ways."""
    if request.param == "realpath":
        monkeypatch.setattr(paths, "_openat2", None)
    elif not paths.openat2_available():
        pytest.skip("this kernel has no openat2")
    return FileMotdDriver(root)


def entries(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def outside_untouched(root: Path) -> bool:
    return (root.parent / "outside" / "secret").read_text() == "SECRET\n"


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")


# --- content ---------------------------------------------------------------------------------


async def test_a_new_file_has_the_content_and_is_0644_owned_by_root(
    motd: Motd, driver: FileMotdDriver
) -> None:
    assert await driver.read() is None

    await driver.write(b"Welcome\n")

    assert motd.content() == b"Welcome\n"
    owner = (0, 0) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    assert motd.permissions() == (0o644, *owner)
    assert await driver.read() == MotdFile(b"Welcome\n", 0o644, *owner)
    assert motd.entries() == ["motd"], "no temporary file is left behind"
    assert driver.path == "/etc/motd"


async def test_read_reports_digest_size_and_permissions(motd: Motd, driver: FileMotdDriver) -> None:
    motd.put(b"\xffnot utf-8\x00\n", mode=0o640)

    file = await driver.read()

    assert file is not None
    assert file.content == b"\xffnot utf-8\x00\n"
    assert (file.size, file.mode) == (12, 0o640)
    assert file.sha256 == digest(file.content) == hashlib.sha256(file.content).hexdigest()


async def test_content_is_written_byte_for_byte(motd: Motd, driver: FileMotdDriver) -> None:
    for content in (b"", b"no newline", b"\xff\xfe binary \x00", "é\r\n".encode() * 9000):
        await driver.write(content)
        assert motd.content() == content
        file = await driver.read()
        assert file is not None
        assert file.content == content


# --- atomicity -------------------------------------------------------------------------------


async def test_a_write_is_a_new_file_renamed_into_place(
    motd: Motd, driver: FileMotdDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until the rename, /etc/motd holds the old content, whole; the new file is already
    complete, with its final mode, beside it. A reader that opened the old file keeps it."""
    motd.put(b"old\n" * 1000, mode=0o600)
    inode = motd.inode()
    reader = motd.path.open("rb")
    seen_before_rename: list[tuple[bytes, bytes, int, int, int]] = []
    rename = os.rename

    def spying_rename(source: str, target: str, **kwargs: int) -> None:
        temporary = Motd(motd.etc / source)
        seen_before_rename.append((motd.content(), temporary.content(), *temporary.permissions()))
        rename(source, target, **kwargs)

    monkeypatch.setattr(os, "rename", spying_rename)

    with reader:
        await driver.write(b"new\n")
        assert reader.read() == b"old\n" * 1000

    owner = motd.permissions()[1:]
    assert seen_before_rename == [(b"old\n" * 1000, b"new\n", 0o600, *owner)]
    assert motd.content() == b"new\n"
    assert motd.inode() != inode
    assert motd.entries() == ["motd"]


@pytest.mark.parametrize(
    ("code", "error", "reason"),
    [
        (errno.ENOSPC, MotdWriteError, "WriteFailed"),
        (errno.EROFS, MotdReadOnlyError, "ReadOnly"),
        (errno.EPERM, MotdPermissionError, "PermissionDenied"),
    ],
)
async def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    motd: Motd,
    driver: FileMotdDriver,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    error: type[MotdWriteError],
    reason: str,
) -> None:
    motd.put(b"old\n")

    def failing_rename(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "rename", failing_rename)

    with pytest.raises(MotdWriteError) as raised:
        await driver.write(b"new\n")

    assert type(raised.value) is error
    assert raised.value.reason == reason
    assert raised.value.errno == code
    assert motd.content() == b"old\n"
    assert motd.entries() == ["motd"]


# --- mode and owner --------------------------------------------------------------------------


async def test_mode_and_owner_are_kept(motd: Motd, driver: FileMotdDriver) -> None:
    needs_root()
    motd.put(b"old\n", mode=0o600, owner=(OTHER_UID, OTHER_GID))

    await driver.write(b"new\n")

    assert motd.permissions() == (0o600, OTHER_UID, OTHER_GID)
    assert await driver.read() == MotdFile(b"new\n", 0o600, OTHER_UID, OTHER_GID)


async def test_set_id_bits_survive_the_change_of_owner(motd: Motd, driver: FileMotdDriver) -> None:
    needs_root()
    motd.put(b"old\n", mode=0o6755, owner=(OTHER_UID, OTHER_GID))

    await driver.write(b"new\n")

    assert motd.permissions() == (0o6755, OTHER_UID, OTHER_GID)


# --- symlinks --------------------------------------------------------------------------------


async def test_a_symlink_at_etc_motd_is_refused(
    root: Path, motd: Motd, driver: FileMotdDriver
) -> None:
    motd.link_to(root.parent / "outside" / "secret")

    with pytest.raises(MotdSymlinkError) as raised:
        await driver.read()
    assert raised.value.reason == "Symlink"
    with pytest.raises(MotdSymlinkError):
        await driver.write(b"pwned\n")
    with pytest.raises(MotdSymlinkError):
        await driver.remove()

    assert motd.is_symlink()
    assert outside_untouched(root)
    assert motd.entries() == ["motd"]


async def test_a_symlinked_etc_is_refused(root: Path, driver: FileMotdDriver) -> None:
    (root / "etc").rmdir()
    (root / "etc").symlink_to(root.parent / "outside")
    (root.parent / "outside" / "motd").write_text("theirs\n")

    for call in (driver.read, lambda: driver.write(b"pwned\n"), driver.remove):
        with pytest.raises(MotdSymlinkError, match="symlink"):
            await call()

    assert (root.parent / "outside" / "motd").read_text() == "theirs\n"
    assert entries(root.parent / "outside") == ["motd", "secret"]


async def test_the_root_prefix_itself_may_be_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(make_tree(tmp_path))
    driver = FileMotdDriver(tmp_path / "link")

    await driver.write(b"hello\n")

    assert (tmp_path / "root" / "etc" / "motd").read_bytes() == b"hello\n"


# --- removal ---------------------------------------------------------------------------------


async def test_remove(motd: Motd, driver: FileMotdDriver) -> None:
    motd.put(b"old\n")

    await driver.remove()

    assert not motd.exists()
    assert await driver.read() is None
    await driver.remove()  # nothing there: nothing to do


async def test_without_etc_there_is_nothing_to_read_or_remove_and_nothing_to_write_to(
    root: Path, driver: FileMotdDriver
) -> None:
    (root / "etc").rmdir()

    assert await driver.read() is None
    await driver.remove()
    with pytest.raises(MotdWriteError) as raised:
        await driver.write(b"hello\n")

    assert type(raised.value) is MotdWriteError
    assert str(raised.value) == "/etc: cannot be opened: ENOENT (No such file or directory)"
    assert str(root) not in str(raised.value), "messages name the node's paths, not ours"


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [os.mkdir, os.mkfifo], ids=["directory", "fifo"])
async def test_something_other_than_a_file_is_refused(
    motd: Motd, driver: FileMotdDriver, make: Callable[[Path], None]
) -> None:
    make(motd.path)

    for call in (driver.read, lambda: driver.write(b"hello\n"), driver.remove):
        with pytest.raises(MotdNotAFileError, match="not a regular file") as raised:
            await call()
        assert raised.value.reason == "NotAFile"
    assert motd.entries() == ["motd"]


async def test_a_read_only_directory_refuses_the_write(motd: Motd, driver: FileMotdDriver) -> None:
    motd.put(b"old\n")

    with read_only_directory(motd.etc):
        with pytest.raises(MotdPermissionError) as raised:
            await driver.write(b"new\n")
        with pytest.raises(MotdPermissionError):
            await driver.remove()

    assert raised.value.reason == "PermissionDenied"
    assert isinstance(raised.value, MotdWriteError)
    assert motd.content() == b"old\n"
    assert motd.entries() == ["motd"]


async def test_a_file_larger_than_a_motd_is_not_read(motd: Motd, driver: FileMotdDriver) -> None:
    motd.put(b"x" * MAX_READ_BYTES)
    assert await driver.read() is not None

    motd.put(b"x" * (MAX_READ_BYTES + 1))

    with pytest.raises(MotdReadError, match="larger than") as raised:
        await driver.read()
    assert raised.value.reason == "ReadFailed"


def test_errors_share_one_base_and_have_distinct_reasons() -> None:
    errors: list[type[MotdError]] = [
        MotdError,
        MotdSymlinkError,
        MotdNotAFileError,
        MotdReadError,
        MotdWriteError,
        MotdPermissionError,
        MotdReadOnlyError,
    ]
    assert all(issubclass(error, MotdError) for error in errors)
    assert issubclass(MotdPermissionError, MotdWriteError)
    assert issubclass(MotdReadOnlyError, MotdWriteError)
    assert len({error.reason for error in errors}) == len(errors)
