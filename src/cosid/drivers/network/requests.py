"""The network domain's rtnetlink request socket, and how many requests it carries at once.

One socket for links, addresses, routes and the mirror's dumps (pyroute2's asyncio socket),
opened in the running event loop on first use: in the network namespace of the thread whose
loop that is (the daemon's: its own in --sandbox, the one `--netns` names otherwise). Never
pyroute2's `netns=` (it forks a child, and creates the namespace if missing), and never the
`ip` program.

Why a cap: the kernel answers each request at once into the socket's receive buffer (212992
bytes by default), and the answers wait there until the event loop reads them. 1000 reconciles
asking at once overflow it: the kernel drops answers (ENOBUFS), and every request waiting
fails. Every request takes a `slot()`, so the answers waiting always fit. Slots are not
re-entrant: nothing that takes one (a mirror's dump through `NetworkMirror.current`) may be
called while holding one.
"""

from __future__ import annotations

import asyncio
from typing import Final

from pyroute2 import AsyncIPRoute

IN_FLIGHT: Final = 64
"""Requests at once: an acknowledgement counts about 1 KiB against the buffer, a dump's part
up to 32 KiB."""


class RequestSocket:
    def __init__(self) -> None:
        self._socket: AsyncIPRoute | None = None
        self._opening = asyncio.Lock()
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._port = 0

    async def socket(self) -> AsyncIPRoute:
        """The socket (subscribed to nothing: the mirror has the notices), opened on first
        use."""
        async with self._opening:
            if self._socket is None:
                socket = AsyncIPRoute(groups=0)
                await socket.setup_endpoint()
                self._socket = socket
            return self._socket

    def slot(self) -> asyncio.Semaphore:
        """Hold one around each request (`async with requests.slot():`)."""
        return self._slots

    def own_port(self) -> int:
        """The socket's netlink port id (0 until it is open and has sent): the kernel stamps
        the notices of cosid's own changes with it. Asked once per socket (every read of the
        mirror asks)."""
        if self._port == 0 and self._socket is not None:
            self._port = self._socket.socket.getsockname()[0]
        return self._port

    def close(self) -> None:
        """Close the socket (a later call opens another)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
            self._port = 0
