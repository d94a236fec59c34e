"""The kernel's links, addresses and routes, mirrored in memory from rtnetlink's change notices:
what every network driver reads (a lookup, not a dump per burst) and what the statuses show
(every object the kernel has, not only the specs').

How the mirror stays true:
- One socket bound to the multicast groups of links, IPv4 and IPv6 addresses and routes,
  with a receive buffer big enough for bursts of thousands (SO_RCVBUFFORCE), read on the
  event loop whenever it is readable. Each message is a whole object (RTM_NEW*) or its
  removal (RTM_DEL*), applied in order.
- A read barrier: the kernel queues the notice of a change to every listener before it
  answers the request that made it, so `current()` drains the socket first and then shows
  every change cosid's requests made, as a dump would.
- What the kernel changes without a notice (IPv4 routes leaving with a link or an address)
  is applied by the tables themselves (`cosid.drivers.network.tables`); what they cannot
  tell (a carrier's ``linkdown`` flag) marks the routes stale, and the next `current()`
  dumps them again. A burst bigger than the buffer (ENOBUFS) marks everything stale.
- A dump (at the first read, after a loss): notices arriving meanwhile are held and applied
  after it, in order; each is a whole object or its removal, so the end is the kernel's latest.

Who hears of changes: each `changes()` subscriber gets a Notice per burst touching its tables
and, when it asks to `track` them, which objects changed. Whose change it was: the kernel
stamps a notice caused by a request with the port id of the socket that asked (`nlmsg_pid`; 0
when the kernel changed something by itself). A burst made only of notices stamped with
cosid's request socket's port is `Notice.OWN`: converged items need no look then, only items
waiting for something (so 1000 addresses added in a burst are not each reconciled 1000
times). Anything else, or a burst whose notices were lost, is `Notice.DRIFT`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Hashable
from typing import Any, Final

from pyroute2.netlink.rtnl import (
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV4_ROUTE,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_IPV6_ROUTE,
    RTMGRP_LINK,
)
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from cosid.drivers.network.driver import AddressState, LinkState
from cosid.drivers.network.events import notice_socket, queued
from cosid.drivers.network.requests import RequestSocket
from cosid.drivers.network.route_driver import RouteState
from cosid.drivers.network.tables import KernelTables, Table
from cosid.drivers.notices import ChangeNotices
from cosid.resources.routes import RouteKey

GROUPS: Final = (
    RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
)
RECEIVE_BUFFER: Final = 32 << 20
"""Bytes of notices the kernel may queue before it drops some (each costs about 1 KiB of
buffer: 1000 addresses added are 2000 notices, an address and its local route each)."""


Changed = dict[Table, set[Hashable]]
"""Which objects changed, per table: link indexes, (link index, cidr) pairs, route keys."""


class MirrorChanges(ChangeNotices):
    """One subscriber's notices of changes in `tables` (see `NetworkMirror.changes`)."""

    def __init__(
        self, tables: frozenset[Table], track: bool, release: Callable[[MirrorChanges], None]
    ) -> None:
        super().__init__()
        self.tables = tables
        self._track = track
        self._release_from = release
        self._objects: Changed = {}
        self.noted = 0
        """How many changes were noted so far (what a reader has caught up with)."""

    def note(self, table: Table, key: Hashable, drift: bool) -> None:
        if table not in self.tables:
            return
        self.noted += 1
        if self._track:
            self._objects.setdefault(table, set()).add(key)
        self._mark(drift=drift)

    def lost(self) -> None:
        """Notices were dropped: anything may have changed (the dump that follows tells what)."""
        self.noted += 1
        self._mark(drift=True)

    def take(self) -> Changed:
        """The objects changed since the last take (with `track`)."""
        objects, self._objects = self._objects, {}
        return objects

    def _release(self) -> None:
        self._release_from(self)


class NetworkMirror:
    """The network namespace's links, addresses and routes (that of the thread whose event
    loop first uses it). Read them after `await current()`, without awaiting in between."""

    def __init__(self, requests: RequestSocket) -> None:
        self._requests = requests
        self._socket: socket.socket | None = None
        self._marshal = MarshalRtnl()
        self._stale = set(Table)
        self.tables = KernelTables(self._note, self._mark_stale)
        self._loaded: set[Table] = set()
        """Tables dumped once: the first dump of a table is nobody's news (the first read
        sees it all), a later one's differences are."""
        self._dumping = asyncio.Lock()
        self._held: list[tuple[Any, bool]] | None = None
        """Notices read during a dump (and whether each was drift), applied after it (None:
        no dump running)."""
        self._subscribers: set[MirrorChanges] = set()
        self.dumps = 0
        """How many dumps were made (what a benchmark counts)."""

    def changes(self, tables: frozenset[Table], track: bool = False) -> MirrorChanges:
        """Notices of the changes in `tables` from this call on (made in the event loop that
        iterates them); with `track`, `take()` tells which objects changed."""
        self._open()
        subscriber = MirrorChanges(tables, track, self._subscribers.discard)
        self._subscribers.add(subscriber)
        return subscriber

    async def current(self) -> None:
        """Bring the mirror up to now: every change announced so far, a dump of what is
        stale. NetlinkError when the kernel refuses the dump."""
        self._open()
        self._drain()
        async with self._dumping:  # a dump running: wait for it (no dump: no wait)
            while self._stale:
                await self._dump()

    async def until(self, seen: Callable[[], bool], seconds: float) -> None:
        """Return once `seen()` holds after a read: for a change the kernel announces after
        it answered the request (IPv6 announces an address only once its duplicate address
        detection has begun, from a work queue). Past `seconds`, the tables are dumped again
        (the truth, whatever the notices said)."""
        waiting = self.changes(frozenset(Table))
        try:
            await self.current()
            async with asyncio.timeout(seconds):
                while not seen():
                    await anext(waiting)
                    await self.current()
        except TimeoutError:
            self._stale |= set(Table)
            await self.current()
        finally:
            waiting.close()

    def link(self, name: str) -> LinkState | None:
        index = self.tables.indexes.get(name)
        return None if index is None else self.tables.links.get(index)

    def address(self, link: str, cidr: str) -> AddressState | None:
        index = self.tables.indexes.get(link)
        return None if index is None else self.tables.addresses.get(index, {}).get(cidr)

    def route(self, key: RouteKey, link: str | None = None) -> RouteState | None:
        """The route under `key`: the one out of `link` when given and there, else the one
        out of the lowest link index."""
        found = self.tables.routes.get(key)
        if not found:
            return None
        index = None if link is None else self.tables.indexes.get(link)
        return found.get(index) if index in found else found[min(found)]

    def close(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.close()
        if self._socket is not None:
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None

    def _open(self) -> None:
        if self._socket is not None:
            return
        notices = notice_socket(GROUPS, RECEIVE_BUFFER)
        asyncio.get_running_loop().add_reader(notices.fileno(), self._drain)
        self._socket = notices
        self._stale, self._loaded = set(Table), set()

    def _drain(self) -> None:
        """Read every notice queued; apply them (or hold them while a dump runs)."""
        assert self._socket is not None
        own = self._requests.own_port()
        for datagram in queued(self._socket):
            if datagram is None:
                self._lost()
                continue
            for message in self._marshal.parse(datagram):
                drift = not own or message["header"]["pid"] != own
                if self._held is not None:
                    self._held.append((message, drift))
                else:
                    self.tables.apply(message, drift)

    def _lost(self) -> None:
        """Notices were dropped: anything may have changed."""
        self._stale |= set(Table)
        for subscriber in self._subscribers:
            subscriber.lost()

    async def _dump(self) -> None:
        stale, self._stale = self._stale, set()
        self.dumps += 1
        self._held = []
        tables = self.tables
        try:
            socket = await self._requests.socket()
            async with self._requests.slot():
                if Table.LINKS in stale:
                    links = [m async for m in await socket.link("dump")]
                    tables.replace_links(links, Table.LINKS in self._loaded)
                if Table.ADDRESSES in stale:
                    addresses = [m async for m in await socket.addr("dump")]
                    tables.replace_addresses(addresses, Table.ADDRESSES in self._loaded)
                if Table.ROUTES in stale:
                    routes = [m async for m in await socket.route("dump")]
                    tables.replace_routes(routes, Table.ROUTES in self._loaded)
            self._loaded |= stale
        except BaseException:
            self._stale |= stale
            raise
        finally:
            held, self._held = self._held, None
            for message, drift in held:
                tables.apply(message, drift)
            self._drain()

    def _note(self, table: Table, key: Hashable, drift: bool) -> None:
        for subscriber in self._subscribers:
            subscriber.note(table, key, drift)

    def _mark_stale(self, table: Table) -> None:
        self._stale.add(table)
