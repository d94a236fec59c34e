"""Notice changes of the links as they happen: rtnetlink's multicast groups, on the event loop.

`NetlinkChanges` is for a consumer that only needs to hear that something changed (the DNS
drivers follow the links their per-link settings name); the network drivers read the mirror
instead (`cosid.drivers.network.mirror`), which also knows what changed and who changed it.
Both read their notices through `notice_socket` and `queued`.

The kernel sends a message to every netlink socket bound to a group when something of that
group changes. The watcher's socket is read on the event loop whenever it is readable, drained
at once, and the messages are not parsed: one burst of any size wakes a waiting iterator once,
and changes while nobody waits are remembered as one. A burst larger than the socket's buffer
loses messages (ENOBUFS), which is still a change. No thread, no timer. Every notice is
`Notice.DRIFT`: the watcher cannot tell whose change it was.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator

from pyroute2.netlink import NETLINK_ROUTE
from pyroute2.netlink.rtnl import RTMGRP_LINK

from cosid.drivers.notices import ChangeNotices

_READ_SIZE = 1 << 16
_SO_RCVBUFFORCE = 33
"""Not in Python's socket module: SO_RCVBUF past net.core.rmem_max, for CAP_NET_ADMIN."""


def notice_socket(groups: int, buffer: int | None = None) -> socket.socket:
    """A non-blocking rtnetlink socket bound to the multicast `groups`, in the network
    namespace of the calling thread; with `buffer`, that many bytes of notices may queue
    (past net.core.rmem_max when cosid has CAP_NET_ADMIN)."""
    notices = socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, NETLINK_ROUTE
    )
    try:
        if buffer is not None:
            try:
                notices.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, buffer)
            except PermissionError:  # no CAP_NET_ADMIN: as much as rmem_max allows
                notices.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        notices.bind((0, groups))
    except BaseException:
        notices.close()
        raise
    return notices


def queued(notices: socket.socket) -> Iterator[bytes | None]:
    """Every datagram queued on `notices` now; None where the kernel dropped some (ENOBUFS:
    the buffer was full). Any other error is raised."""
    while True:
        try:
            yield notices.recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError as error:
            if error.errno != errno.ENOBUFS:
                raise
            yield None


class NetlinkChanges(ChangeNotices):
    """An async iterator that yields a Notice once after each change (or burst of changes) of
    the multicast `groups`, in the network namespace of the thread that made it; made inside
    a running event loop, which it uses.

    It watches from the moment it is made, so a change between making it and iterating is
    not lost. `close` ends it (an iteration waiting then stops).
    """

    def __init__(self, groups: int = RTMGRP_LINK) -> None:
        super().__init__()
        self._socket = notice_socket(groups)
        self._loop.add_reader(self._socket.fileno(), self._ready)

    def _release(self) -> None:
        self._loop.remove_reader(self._socket.fileno())
        self._socket.close()

    def _ready(self) -> None:
        with contextlib.suppress(OSError):  # an error of the socket: still a change
            for _ in queued(self._socket):
                pass  # read, not parsed: a loss (None) is a change too
        self._mark(drift=True)
