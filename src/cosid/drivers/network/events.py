"""Notice changes of the links as they happen: rtnetlink's multicast groups, on the event loop.

The kernel sends a message to every netlink socket bound to a group when something of that
group changes (RTMGRP_LINK: a link added, removed, or its flags, MTU, master... changed). The
watcher's socket is read on the event loop whenever it is readable, drained at once, and the
messages are not parsed: one burst of any size (thousands of links changing) wakes a waiting
iterator once, and changes while nobody waits are remembered as one. A burst larger than the
socket's buffer loses messages (ENOBUFS), which is still a change. No thread, no timer.

cosid's own changes are changes too: whoever reacts finds the links as they should be and
changes nothing, so its own change ends there.
"""

from __future__ import annotations

import asyncio
import errno
import socket

from pyroute2.netlink import NETLINK_ROUTE
from pyroute2.netlink.rtnl import RTMGRP_LINK

_READ_SIZE = 1 << 16


class NetlinkChanges:
    """An async iterator that yields once after each change (or burst of changes) of the
    multicast `groups`, in the network namespace of the thread that made it; made inside a
    running event loop, which it uses.

    It watches from the moment it is made, so a change between making it and iterating is
    not lost. `close` ends it (an iteration waiting then stops).
    """

    def __init__(self, groups: int = RTMGRP_LINK) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._closed = False
        self._socket = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, NETLINK_ROUTE
        )
        try:
            self._socket.bind((0, groups))
        except BaseException:
            self._socket.close()
            raise
        self._loop.add_reader(self._socket.fileno(), self._ready)

    def __aiter__(self) -> NetlinkChanges:
        return self

    async def __anext__(self) -> None:
        if not self._closed:
            await self._changed.wait()
            self._changed.clear()
        if self._closed:
            raise StopAsyncIteration

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._socket.fileno())
        self._socket.close()
        self._changed.set()

    def _ready(self) -> None:
        while True:
            try:
                self._socket.recv(_READ_SIZE)
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno != errno.ENOBUFS:  # messages lost: a change all the same
                    break
        self._changed.set()
