"""Notice changes of the mount table as they happen: POLLPRI on mountinfo, on the event loop.

The kernel marks an open mountinfo file with POLLPRI (and POLLERR) whenever a mount is made,
moved, changed or removed in its mount namespace (proc(5)), and clears the mark for that
open file when it is next polled. The file is also always readable, so it cannot be handed
to the event loop as it is (a reader would fire without end). Instead a private epoll
instance watches it for POLLPRI alone, and the event loop watches that epoll instance, which
is readable exactly while a change is pending; polling it clears the change. No thread, no
timer.

Changes coalesce: a burst of mounts (a recursive bind, say) wakes a waiting iterator once,
and changes while nobody waits are remembered as one. cosid's own mounts are changes too:
whoever reacts must find the table as it should be and change nothing, so its own change
ends there.
"""

from __future__ import annotations

import os
import select

from cosid.drivers.mounts.mountinfo import MOUNTINFO
from cosid.drivers.notices import ChangeNotices


class MountTableWatcher(ChangeNotices):
    """An async iterator that yields once after each change (or burst of changes) of the
    mount table the mountinfo file `path` shows (the namespace of the thread that made it,
    unless `path` names another thread's); made inside a running event loop, which it uses.

    It watches from the moment it is made, so a change between making it and iterating is
    not lost. `close` ends it (an iteration waiting then stops).
    """

    def __init__(self, path: str = MOUNTINFO) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._epoll = select.epoll()
            self._epoll.register(self._fd, select.EPOLLPRI)
        except BaseException:
            os.close(self._fd)
            raise
        self._loop.add_reader(self._epoll.fileno(), self._ready)

    def _release(self) -> None:
        self._loop.remove_reader(self._epoll.fileno())
        self._epoll.close()
        os.close(self._fd)

    def _ready(self) -> None:
        self._epoll.poll(0)  # clears the change; the epoll instance is not readable until the next
        self._mark(drift=True)  # mountinfo does not say who mounted
