"""What every watcher of the kernel's change notices shares: the waiting half.

A watcher reads its source (a netlink socket, an epoll on mountinfo) on the event loop and
marks each change it reads (`_mark`); an iteration waiting is woken once for any number of
marks since the last, so a burst of any size is one notice, and changes while nobody waits
are remembered as one. The notice is DRIFT if any mark was someone else's change (or could
not be told apart), OWN if all were cosid's own.
"""

from __future__ import annotations

import asyncio
from typing import Self

from cosid.runtime.controller import Notice


class ChangeNotices:
    """An async iterator of Notices, made inside a running event loop, which it uses; `close`
    ends it (an iteration waiting then stops). Subclasses read their source on the loop, call
    `_mark` for what they read, and let go of the source in `_release`."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._closed = False
        self._drift = False
        """Since the last notice: a change not (only) cosid's own."""

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Notice:
        if not self._closed:
            await self._changed.wait()
            self._changed.clear()
        if self._closed:
            raise StopAsyncIteration
        drift, self._drift = self._drift, False
        return Notice.DRIFT if drift else Notice.OWN

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._release()
        self._changed.set()

    def _mark(self, *, drift: bool) -> None:
        """A change was read: someone else's (or unknown) when `drift`."""
        self._drift = self._drift or drift
        self._changed.set()

    def _release(self) -> None:
        raise NotImplementedError
