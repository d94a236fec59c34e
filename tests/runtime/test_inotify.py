"""The inotify file watcher alone, on files under a temporary directory."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cosid.runtime.backoff import Backoff
from cosid.runtime.inotify import (
    IN_CLOSE_WRITE,
    IN_Q_OVERFLOW,
    FileWatcher,
    InotifyEvent,
    parse_events,
)

WITHIN = 1.0
QUIET = 0.15
FAST_REWATCH = Backoff(initial_seconds=0.02, max_seconds=0.05)


class Files:
    """Two watched files in one directory, one in another, and the changes reported."""

    def __init__(self, root: Path) -> None:
        self.etc = root / "etc"
        self.other = root / "other"
        self.motd = self.etc / "motd"
        self.hostname = self.etc / "hostname"
        self.elsewhere = self.other / "file"
        self.changes: asyncio.Queue[frozenset[Path]] = asyncio.Queue()
        self.watcher = FileWatcher(
            (self.motd, self.hostname, self.elsewhere),
            self.changes.put_nowait,
            rewatch=FAST_REWATCH,
        )

    async def next(self) -> frozenset[Path]:
        """The next change reported (several reports within a moment count as one)."""
        try:
            changed = set(await asyncio.wait_for(self.changes.get(), WITHIN))
        except TimeoutError:
            pytest.fail("no change reported in time")
        await asyncio.sleep(0.02)
        while not self.changes.empty():
            changed |= self.changes.get_nowait()
        return frozenset(changed)

    async def quiet(self) -> None:
        await asyncio.sleep(QUIET)
        assert self.changes.empty(), f"unexpected change: {self.changes.get_nowait()}"


@pytest.fixture
async def files(tmp_path: Path) -> AsyncIterator[Files]:
    files = Files(tmp_path)
    files.etc.mkdir()
    files.other.mkdir()
    files.motd.write_text("before\n")
    files.watcher.start()
    yield files
    files.watcher.close()


def replace_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.rename(temporary, path)


async def test_a_write_in_place_is_reported(files: Files) -> None:
    files.motd.write_text("edited\n")

    assert await files.next() == {files.motd}


async def test_an_atomic_replace_is_reported_and_the_new_file_still_watched(files: Files) -> None:
    replace_atomically(files.motd, "replaced\n")
    assert await files.next() == {files.motd}

    files.motd.write_text("edited after the replace\n")  # a new inode: still seen
    assert await files.next() == {files.motd}


async def test_a_removal_is_reported(files: Files) -> None:
    files.motd.unlink()

    assert await files.next() == {files.motd}


async def test_a_creation_is_reported(files: Files) -> None:
    files.hostname.write_text("web-01\n")

    assert await files.next() == {files.hostname}


async def test_a_mode_change_is_reported(files: Files) -> None:
    files.motd.chmod(0o600)

    assert await files.next() == {files.motd}


async def test_a_file_in_another_directory_is_watched_too(files: Files) -> None:
    files.elsewhere.write_text("x\n")

    assert await files.next() == {files.elsewhere}


async def test_other_files_in_the_directory_are_ignored(files: Files) -> None:
    (files.etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    replace_atomically(files.etc / "group", "root:x:0:\n")
    (files.etc / "motd.d").mkdir()
    (files.etc / "passwd").unlink()
    os.utime(files.etc / "group")

    await files.quiet()


async def test_reading_the_file_is_not_a_change(files: Files) -> None:
    assert files.motd.read_text() == "before\n"

    await files.quiet()


async def test_close_closes_the_descriptor_and_ends_the_reports(files: Files) -> None:
    fd = files.watcher.fileno
    assert fd is not None
    assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"

    files.watcher.close()
    files.watcher.close()  # idempotent

    assert files.watcher.fileno is None
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)
    files.motd.write_text("edited\n")
    await files.quiet()


async def test_a_removed_directory_is_reported_and_watched_again_once_back(files: Files) -> None:
    files.motd.unlink()
    assert await files.next() == {files.motd}

    files.etc.rmdir()
    assert await files.next() == {files.motd, files.hostname}

    files.etc.mkdir()  # the retries find it and report its files
    assert await files.next() == {files.motd, files.hostname}
    files.motd.write_text("back\n")
    assert await files.next() == {files.motd}


async def test_a_directory_swapped_by_rename_is_watched_at_its_path(files: Files) -> None:
    files.etc.rename(files.etc.with_name("etc.old"))
    assert await files.next() == {files.motd, files.hostname}

    (files.etc.with_name("etc.old") / "motd").write_text("in the old directory\n")
    await files.quiet()  # no longer at the watched path

    files.etc.mkdir()
    assert await files.next() == {files.motd, files.hostname}
    files.motd.write_text("in the new directory\n")
    assert await files.next() == {files.motd}


async def test_a_directory_missing_at_start_is_watched_once_made(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.watcher.start()
    try:
        await files.quiet()
        files.etc.mkdir()
        assert await files.next() == {files.motd, files.hostname}
        files.motd.write_text("new\n")
        assert await files.next() == {files.motd}
    finally:
        files.watcher.close()


def overflow_limit() -> int:
    return int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())


@pytest.mark.skipif(overflow_limit() > 100_000, reason="the kernel's queue is too long to fill")
async def test_an_overflowed_queue_reports_every_file(files: Files) -> None:
    unrelated = (files.etc / "a", files.etc / "b")
    for path in unrelated:
        path.write_text("")
    await files.quiet()

    for n in range(overflow_limit() + 2):  # without yielding: nothing reads meanwhile
        os.utime(unrelated[n % 2])  # alternating, so the kernel merges none

    assert await files.next() == {files.motd, files.hostname, files.elsewhere}


def test_records_are_parsed_with_their_padded_names() -> None:
    data = (
        struct.pack("iIII", 1, IN_CLOSE_WRITE, 0, 16)
        + b"motd".ljust(16, b"\0")
        + struct.pack("iIII", -1, IN_Q_OVERFLOW, 0, 0)
    )

    assert list(parse_events(data)) == [
        InotifyEvent(1, IN_CLOSE_WRITE, 0, b"motd"),
        InotifyEvent(-1, IN_Q_OVERFLOW, 0, b""),
    ]


def test_a_relative_path_is_refused() -> None:
    with pytest.raises(ValueError, match="not absolute"):
        FileWatcher((Path("etc/motd"),), lambda _: None)
