"""Notice changes of the links as they happen: rtnetlink's multicast groups, on the event loop.

The kernel sends a message to every netlink socket bound to a group when something of that
group changes (RTMGRP_LINK: a link added, removed, or its flags, MTU, master... changed;
RTMGRP_IPV4_IFADDR and RTMGRP_IPV6_IFADDR: addresses; RTMGRP_IPV4_ROUTE and RTMGRP_IPV6_ROUTE:
routes, where one change may be thousands of messages, such as a link's routes leaving with
it). The watcher's socket is read on the event loop whenever it is readable, drained at once,
and the messages are not parsed: one burst of any size (thousands of links changing) wakes a
waiting iterator once, and changes while nobody waits are remembered as one. A burst larger
than the socket's buffer loses messages (ENOBUFS), which is still a change. No thread, no timer.

Whose change it was: the kernel stamps a notification caused by a request with the port id
of the socket that asked (`nlmsg_pid`; 0 when the kernel changed something by itself). Given
`own_port` (the port of cosid's request socket), a burst made only of cosid's own changes is
`Notice.OWN`: converged items need no look then, only items waiting for something (so 1000
addresses added in a burst are not each reconciled 1000 times). Anything else, or a burst
whose messages were lost (ENOBUFS), is `Notice.DRIFT`.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable

from pyroute2.netlink import NETLINK_ROUTE
from pyroute2.netlink.rtnl import RTMGRP_LINK

from cosid.drivers.notices import ChangeNotices

_READ_SIZE = 1 << 16
_HEADER = struct.Struct("=IHHII")
"""struct nlmsghdr: length, type, flags, sequence number, port id of the sender."""


def senders(datagram: bytes) -> set[int]:
    """The port ids of the netlink messages in one datagram."""
    found = set()
    offset = 0
    while offset + _HEADER.size <= len(datagram):
        length, _, _, _, port = _HEADER.unpack_from(datagram, offset)
        if length < _HEADER.size:
            break
        found.add(port)
        offset += (length + 3) & ~3  # NLMSG_ALIGN
    return found


def no_port() -> int:
    """For a watcher that cannot tell cosid's changes from others' (all are DRIFT)."""
    return 0


class NetlinkChanges(ChangeNotices):
    """An async iterator that yields a Notice once after each change (or burst of changes) of
    the multicast `groups`, in the network namespace of the thread that made it; made inside
    a running event loop, which it uses. `own_port` gives the port id of cosid's request
    socket (0 while it has none).

    It watches from the moment it is made, so a change between making it and iterating is
    not lost. `close` ends it (an iteration waiting then stops).
    """

    def __init__(self, groups: int = RTMGRP_LINK, own_port: Callable[[], int] = no_port) -> None:
        super().__init__()
        self._own_port = own_port
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
        own = self._own_port()
        drift = False
        while True:
            try:
                datagram = self._socket.recv(_READ_SIZE)
            except BlockingIOError:
                break
            except OSError as error:
                drift = True  # messages lost (ENOBUFS): anything may have changed
                if error.errno != errno.ENOBUFS:
                    break
                continue
            drift = drift or not own or senders(datagram) != {own}
        self._mark(drift=drift)
