"""Notice changes to a few files at once: inotify(7) on the event loop, no thread, no polling.

`FileWatcher` watches the *directory* of each file, never the file itself: an atomic replace
(a temporary file renamed over the old one, as cosid's drivers and most editors write) gives
the name a new inode, and a watch on the old inode would see nothing after it. The directory
watch reports, for the watched names only (the temporary files and everything else in the
directory are ignored):

- IN_CLOSE_WRITE: written in place (reported once the writer closes it, not mid-write);
- IN_MOVED_TO / IN_MOVED_FROM: renamed over, or away;
- IN_CREATE / IN_DELETE: created, removed;
- IN_ATTRIB: mode, owner or timestamps changed.

and, for the watch itself:

- IN_Q_OVERFLOW: the kernel's queue (``fs.inotify.max_queued_events``) overflowed and events
  were lost, so every watched file counts as changed.
- IN_IGNORED: the kernel dropped a directory's watch (the directory was removed, or its file
  system unmounted). Its files count as changed, and the watcher adds the directory again
  right away if it is back (a directory swapped by rename), else retries with backoff (1 s
  doubling to 30 s by default); once it succeeds, the files count as changed again (they may
  have changed meanwhile). Between the two, only the controller's resync notices drift.
- IN_MOVE_SELF: the directory was renamed. Its watch would follow it to its new name, so the
  watcher drops it (which queues IN_IGNORED, above) and watches the path again.

The same holds for a directory missing (or not a directory) when the watcher starts.
Directories are watched with IN_ONLYDIR | IN_DONT_FOLLOW: a symlink there is not watched
(drivers refuse symlinks anyway), only retried.

A change is reported to `on_change` with the set of watched paths concerned, once per batch
the kernel hands over; several reports for one edit are normal (a create then a close), and
cosid's own writes are reported too. Callers must therefore be idempotent: a reconcile that
finds the file as it should be writes nothing, so its own event ends there.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import structlog

from cosid.drivers import libc
from cosid.runtime.backoff import Backoff

log = structlog.get_logger("cosid.runtime")

IN_ATTRIB: Final = 0x00000004
IN_CLOSE_WRITE: Final = 0x00000008
IN_MOVED_FROM: Final = 0x00000040
IN_MOVED_TO: Final = 0x00000080
IN_CREATE: Final = 0x00000100
IN_DELETE: Final = 0x00000200
IN_MOVE_SELF: Final = 0x00000800
IN_Q_OVERFLOW: Final = 0x00004000
IN_IGNORED: Final = 0x00008000
IN_ONLYDIR: Final = 0x01000000
IN_DONT_FOLLOW: Final = 0x02000000

FILE_EVENTS: Final = (
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB
)
"""What happens to a name in a watched directory that may change the file behind it."""
WATCH_MASK: Final = FILE_EVENTS | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW

READ_BYTES: Final = 64 * 1024
"""One read's buffer: room for hundreds of events (each 16 bytes and its padded name)."""
REWATCH: Final = Backoff(initial_seconds=1.0, max_seconds=30.0)

_EVENT: Final = struct.Struct("iIII")
"""``struct inotify_event``: wd, mask, cookie, len; then `len` bytes of NUL-padded name."""


@dataclass(frozen=True, slots=True)
class InotifyEvent:
    wd: int
    mask: int
    cookie: int
    name: bytes
    """The entry's name in the watched directory; empty for events on the watch itself."""


def parse_events(data: bytes) -> Iterator[InotifyEvent]:
    """The ``struct inotify_event`` records of one read (the kernel only returns whole ones)."""
    offset = 0
    while offset + _EVENT.size <= len(data):
        wd, mask, cookie, length = _EVENT.unpack_from(data, offset)
        start = offset + _EVENT.size
        name = data[start : start + length].split(b"\0", 1)[0]
        yield InotifyEvent(wd, mask, cookie, name)
        offset = start + length


class FileWatcher:
    """Calls `on_change(paths)` when any of the watched files may have changed.

    `start` (on the running loop) opens the inotify instance and raises OSError when the
    kernel gives none (EMFILE: ``fs.inotify.max_user_instances``); directories that cannot be
    watched yet are retried (see the module). `close` releases everything; it is idempotent.
    """

    def __init__(
        self,
        paths: Iterable[Path],
        on_change: Callable[[frozenset[Path]], None],
        *,
        rewatch: Backoff = REWATCH,
    ) -> None:
        self._on_change = on_change
        self._rewatch_backoff = rewatch
        self._names: dict[bytes, dict[bytes, Path]] = {}
        """directory -> name in it -> the watched path."""
        for path in paths:
            if not path.is_absolute():
                raise ValueError(f"{path} is not absolute")
            directory, name = os.fsencode(path.parent), os.fsencode(path.name)
            self._names.setdefault(directory, {})[name] = path
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watches: dict[int, set[bytes]] = {}
        """watch descriptor -> the directories it watches (several when paths share an inode)."""
        self._unwatched: set[bytes] = set()
        self._attempts = 0
        self._retry: asyncio.TimerHandle | None = None

    @property
    def paths(self) -> frozenset[Path]:
        return frozenset(p for names in self._names.values() for p in names.values())

    @property
    def fileno(self) -> int | None:
        """The inotify instance's descriptor while started."""
        return self._fd

    def start(self) -> None:
        if self._fd is not None:
            return
        loop = asyncio.get_running_loop()
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        self._fd, self._loop = fd, loop
        loop.add_reader(fd, self._readable)
        for directory in self._names:
            self._watch(directory)
        self._schedule_rewatch()

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(fd)
        os.close(fd)  # the kernel drops every watch with it
        self._watches.clear()
        self._unwatched.clear()
        self._attempts = 0

    def _watch(self, directory: bytes) -> bool:
        """Add `directory`'s watch; on failure, leave it to the retries."""
        assert self._fd is not None
        try:
            wd = libc.inotify_add_watch(self._fd, directory, WATCH_MASK)
        except OSError as error:
            if directory not in self._unwatched:
                # A directory not made yet (sysctl.d before anything persists) is normal.
                level = log.info if error.errno == errno.ENOENT else log.warning
                level(
                    "cannot watch a directory yet; retrying, the resync meanwhile",
                    directory=os.fsdecode(directory),
                    error=errno.errorcode.get(error.errno or 0, str(error)),
                )
            self._unwatched.add(directory)
            return False
        self._watches.setdefault(wd, set()).add(directory)
        self._unwatched.discard(directory)
        return True

    def _schedule_rewatch(self) -> None:
        if not self._unwatched or self._retry is not None or self._loop is None:
            return
        self._attempts += 1
        delay = self._rewatch_backoff.delay(self._attempts)
        self._retry = self._loop.call_later(delay, self._rewatch)

    def _rewatch(self) -> None:
        self._retry = None
        if self._fd is None:
            return
        changed: set[Path] = set()
        for directory in sorted(self._unwatched):
            if self._watch(directory):
                log.info("watching a directory again", directory=os.fsdecode(directory))
                changed.update(self._names[directory].values())
        if not self._unwatched:
            self._attempts = 0
        self._schedule_rewatch()
        if changed:
            self._on_change(frozenset(changed))

    def _readable(self) -> None:
        """One read per wake-up: a busy directory never holds the loop for long."""
        if self._fd is None:
            return
        try:
            data = os.read(self._fd, READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        changed: set[Path] = set()
        for event in parse_events(data):
            self._handle(event, changed)
        self._schedule_rewatch()
        if changed:
            self._on_change(frozenset(changed))

    def _handle(self, event: InotifyEvent, changed: set[Path]) -> None:
        if event.mask & IN_Q_OVERFLOW:
            log.warning("inotify queue overflowed; every watched file counts as changed")
            changed.update(self.paths)
            return
        directories = self._watches.get(event.wd)
        if directories is None:
            return  # a watch dropped earlier
        if event.mask & IN_IGNORED:
            del self._watches[event.wd]
            for directory in directories:
                changed.update(self._names[directory].values())
                self._watch(directory)
            return
        if event.mask & IN_MOVE_SELF:
            assert self._fd is not None
            with contextlib.suppress(OSError):  # already gone: its IN_IGNORED is on the way
                libc.inotify_rm_watch(self._fd, event.wd)  # IN_IGNORED follows
            return
        if event.mask & FILE_EVENTS:
            for directory in directories:
                path = self._names[directory].get(event.name)
                if path is not None:
                    changed.add(path)
