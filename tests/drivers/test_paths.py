"""open_no_symlinks: both ways (openat2, realpath) open plain paths and refuse every symlink."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from cosid.drivers import paths
from cosid.drivers.paths import open_no_symlinks


@pytest.fixture(params=[True, False], ids=["openat2", "realpath"])
def use_openat2(request: pytest.FixtureRequest) -> bool:
    if request.param and not paths.openat2_available():
        pytest.skip("this kernel has no openat2")
    chosen: bool = request.param
    return chosen


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/real/dir/file, and symlinks to the directory and to the file."""
    base = Path(os.path.realpath(tmp_path))
    (base / "real" / "dir").mkdir(parents=True)
    (base / "real" / "dir" / "file").write_text("content\n")
    (base / "real" / "dirlink").symlink_to("dir")
    (base / "real" / "filelink").symlink_to("dir/file")
    (base / "real" / "dangling").symlink_to("nowhere")
    return base / "real"


def read(path: Path, use_openat2: bool) -> bytes:
    fd = open_no_symlinks(str(path), os.O_RDONLY, use_openat2=use_openat2)
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


def test_plain_paths_open(tree: Path, use_openat2: bool) -> None:
    assert read(tree / "dir" / "file", use_openat2) == b"content\n"


def test_the_file_descriptor_is_close_on_exec(tree: Path, use_openat2: bool) -> None:
    fd = open_no_symlinks(str(tree / "dir" / "file"), os.O_RDONLY, use_openat2=use_openat2)
    try:
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize("relative", ["dirlink/file", "filelink", "dangling"])
def test_symlinks_are_refused(tree: Path, use_openat2: bool, relative: str) -> None:
    with pytest.raises(OSError, check=lambda error: error.errno == errno.ELOOP):
        read(tree / relative, use_openat2)


def test_missing_files_are_missing(tree: Path, use_openat2: bool) -> None:
    with pytest.raises(FileNotFoundError):
        read(tree / "dir" / "nothing", use_openat2)


@pytest.mark.parametrize("path", ["relative/file", "/a/../b", "/a//b", "/a/./b", "/a/"])
def test_only_absolute_normalised_paths(path: str) -> None:
    with pytest.raises(ValueError, match="not an absolute, normalised path"):
        open_no_symlinks(path, os.O_RDONLY)
