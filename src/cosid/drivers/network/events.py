"""Notice changes of the links as they happen: rtnetlink's multicast groups, on the event loop.

For a consumer that only needs to hear that something changed (the DNS drivers follow the
links their per-link settings name); the network drivers read the mirror instead
(`cosid.drivers.network.mirror`), which also knows what changed and who changed it.

The kernel sends a message to every netlink socket bound to a group when something of that
group changes. The watcher's socket is read on the event loop whenever it is readable, drained
at once, and the messages are not parsed: one burst of any size wakes a waiting iterator once,
and changes while nobody waits are remembered as one. A burst larger than the socket's buffer
loses messages (ENOBUFS), which is still a change. No thread, no timer. Every notice is
`Notice.DRIFT`: the watcher cannot tell whose change it was.
"""

from __future__ import annotations

import errno
import socket

from pyroute2.netlink import NETLINK_ROUTE
from pyroute2.netlink.rtnl import RTMGRP_LINK

from cosid.drivers.notices import ChangeNotices

_READ_SIZE = 1 << 16


class NetlinkChanges(ChangeNotices):
    """An async iterator that yields a Notice once after each change (or burst of changes) of
    the multicast `groups`, in the network namespace of the thread that made it; made inside
    a running event loop, which it uses.

    It watches from the moment it is made, so a change between making it and iterating is
    not lost. `close` ends it (an iteration waiting then stops).
    """

    def __init__(self, groups: int = RTMGRP_LINK) -> None:
        super().__init__()
        self._socket = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, NETLINK_ROUTE
        )
        try:
            self._socket.bind((0, groups))
        except BaseException:
            self._socket.close()
            raise
        self._loop.add_reader(self._socket.fileno(), self._ready)

    def _release(self) -> None:
        self._loop.remove_reader(self._socket.fileno())
        self._socket.close()

    def _ready(self) -> None:
        while True:
            try:
                self._socket.recv(_READ_SIZE)
            except BlockingIOError:
                break
            except OSError as error:  # messages lost (ENOBUFS): still a change
                if error.errno != errno.ENOBUFS:
                    break
        self._mark(drift=True)
