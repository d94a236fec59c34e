"""The one way drivers write files, on real files in a temporary directory: atomic
replacement with the mode and owner kept, removal, directories made, and symlinks never
followed. (Each driver's own tests prove the same through its errors.)"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosid.drivers import files, paths

OTHER_UID, OTHER_GID = 1234, 5678
SYMLINK = r"symbolic links|symlink"
"""ELOOP's text from the kernel (openat2, O_NOFOLLOW) or from `open_no_symlinks`' realpath way."""


@pytest.fixture(params=["openat2", "realpath"])
def base(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory (no symlink on its path), directories refused as symlinks each way."""
    if request.param == "realpath":
        monkeypatch.setattr(paths, "_openat2", None)
    elif not paths.openat2_available():
        pytest.skip("this kernel has no openat2")
    return Path(os.path.realpath(tmp_path))


@pytest.fixture
def directory(base: Path) -> Iterator[int]:
    fd = files.open_directory(str(base))
    yield fd
    os.close(fd)


def permissions(path: Path) -> tuple[int, int, int]:
    status = path.lstat()
    return stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid


def new_owner() -> tuple[int, int]:
    return (0, 0) if os.geteuid() == 0 else (os.geteuid(), os.getegid())


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")


# --- open_directory --------------------------------------------------------------------------


def test_create_makes_the_missing_directories_0755_whatever_the_umask(base: Path) -> None:
    with pytest.raises(FileNotFoundError):
        files.open_directory(str(base / "a" / "b"))

    previous = os.umask(0o077)
    try:
        os.close(files.open_directory(str(base / "a" / "b"), create=True))
    finally:
        os.umask(previous)

    assert [permissions(p)[0] for p in (base / "a", base / "a" / "b")] == [0o755, 0o755]


@pytest.mark.parametrize("create", [False, True])
def test_a_symlinked_directory_on_the_way_is_refused(base: Path, create: bool) -> None:
    (base / "real").mkdir()
    (base / "link").symlink_to("real")

    with pytest.raises(OSError, match=SYMLINK) as raised:
        files.open_directory(str(base / "link" / "made"), create=create)

    assert raised.value.errno == errno.ELOOP
    assert list((base / "real").iterdir()) == []


# --- find ------------------------------------------------------------------------------------


def test_find_sees_files_and_refuses_anything_else(base: Path, directory: int) -> None:
    (base / "file").write_text("x")
    (base / "link").symlink_to("file")
    (base / "dir").mkdir()
    os.mkfifo(base / "fifo")

    assert files.find(directory, "none") is None
    found = files.find(directory, "file")
    assert found is not None
    assert stat.S_ISREG(found.st_mode)
    with pytest.raises(files.IsASymlinkError) as raised:
        files.find(directory, "link")
    assert raised.value.errno == errno.ELOOP
    linked = files.find(directory, "link", symlink_ok=True)
    assert linked is not None
    assert stat.S_ISLNK(linked.st_mode)
    for name in ("dir", "fifo"):
        for symlink_ok in (False, True):
            with pytest.raises(files.NotARegularFileError, match="not a regular file"):
                files.find(directory, name, symlink_ok=symlink_ok)


# --- replace ---------------------------------------------------------------------------------


def test_a_new_file_is_0644_owned_by_root_and_nothing_else_is_left(
    base: Path, directory: int
) -> None:
    files.replace(directory, "file", b"new\n")

    assert (base / "file").read_bytes() == b"new\n"
    assert permissions(base / "file") == (0o644, *new_owner())
    assert os.listdir(base) == ["file"]


def test_a_replaced_file_keeps_its_owner_and_mode_unless_given_one(
    base: Path, directory: int
) -> None:
    needs_root()
    path = base / "file"
    path.write_text("old\n")
    os.chown(path, OTHER_UID, OTHER_GID)
    path.chmod(0o6755)  # after chown, which clears set-id bits
    inode = path.stat().st_ino

    files.replace(directory, "file", b"new\n")

    assert permissions(path) == (0o6755, OTHER_UID, OTHER_GID)
    assert path.stat().st_ino != inode, "a new file renamed into place"

    files.replace(directory, "file", b"newer\n", mode=0o600)

    assert permissions(path) == (0o600, OTHER_UID, OTHER_GID)
    assert path.read_bytes() == b"newer\n"


def test_a_symlink_is_refused_or_replaced_itself_never_followed(base: Path, directory: int) -> None:
    (base / "target").write_text("theirs\n")
    (base / "file").symlink_to("target")

    with pytest.raises(files.IsASymlinkError):
        files.replace(directory, "file", b"mine\n")
    assert (base / "file").is_symlink()

    files.replace(directory, "file", b"mine\n", symlink_ok=True)

    assert not (base / "file").is_symlink()
    assert (base / "file").read_bytes() == b"mine\n"
    assert permissions(base / "file") == (0o644, *new_owner())
    assert (base / "target").read_text() == "theirs\n"


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(
    base: Path, directory: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    (base / "file").write_text("old\n")

    def failing_rename(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "rename", failing_rename)

    with pytest.raises(OSError, match="No space left") as raised:
        files.replace(directory, "file", b"new\n")

    assert raised.value.errno == errno.ENOSPC
    assert (base / "file").read_text() == "old\n"
    assert os.listdir(base) == ["file"]


def test_rename_into_place_puts_a_symlink_over_a_file(base: Path, directory: int) -> None:
    (base / "file").write_text("old\n")

    files.rename_into_place(
        directory, "file", lambda temporary: os.symlink("/elsewhere", temporary, dir_fd=directory)
    )

    assert os.readlink(base / "file") == "/elsewhere"
    assert os.listdir(base) == ["file"]


# --- remove ----------------------------------------------------------------------------------


def test_remove_takes_a_file_and_a_symlink_only_when_told(base: Path, directory: int) -> None:
    (base / "file").write_text("x")
    (base / "link").symlink_to("file")

    assert files.remove(directory, "file")
    assert not files.remove(directory, "file")
    with pytest.raises(files.IsASymlinkError):
        files.remove(directory, "link")
    assert files.remove(directory, "link", symlink_ok=True)
    assert os.listdir(base) == []


# --- put -------------------------------------------------------------------------------------


def test_put_writes_only_a_change_and_none_removes(base: Path) -> None:
    path = base / "etc" / "x.d" / "cosid.conf"
    assert not files.put(path, None), "no directory: nothing to remove"
    assert not (base / "etc").exists()

    assert files.put(path, b"one\n")
    inode = path.stat().st_ino
    assert not files.put(path, b"one\n")
    assert path.stat().st_ino == inode

    path.chmod(0o600)
    assert files.put(path, b"two\n")
    assert (path.read_bytes(), permissions(path)[0]) == (b"two\n", 0o644)

    assert files.put(path, None)
    assert not files.put(path, None)
    assert os.listdir(path.parent) == []


def test_put_replaces_or_removes_a_symlink_never_its_target(base: Path) -> None:
    (base / "target").write_text("one\n")
    path = base / "cosid.conf"
    path.symlink_to("target")

    assert files.put(path, b"one\n"), "a link never holds the content: it is replaced"
    assert not path.is_symlink()

    path.unlink()
    path.symlink_to("target")
    assert files.put(path, None)
    assert not os.path.lexists(path)
    assert (base / "target").read_text() == "one\n"


def test_put_refuses_a_symlinked_directory(base: Path) -> None:
    (base / "real").mkdir()
    (base / "etc").symlink_to("real")

    for data in (b"x\n", None):
        with pytest.raises(OSError, match=SYMLINK) as raised:
            files.put(base / "etc" / "cosid.conf", data)
        assert raised.value.errno == errno.ELOOP
    assert list((base / "real").iterdir()) == []
