"""network-observer: every link, address and route the kernel has, as LinkStatuses,
AddressStatuses and RouteStatuses, whoever made them.

Reads: the network mirror (`cosid.drivers.network.mirror`), no resource. Writes: the three
status types, each object under the id a spec of it would have (a link's name,
``<link>/<cidr>``, ``<table>/<destination>/<metric>``), so a spec's view shows its own.

Event-driven: the first observation is the whole mirror; after that, each burst of the
kernel's notices writes only the objects it changed (one more address among 10,000 is one
write, not 10,001), coalesced per burst (a route that flaps ten times in a burst is one write).

Labels, to select with: links ``kind``; addresses ``link`` and ``family``; routes ``table``,
``family`` and ``protocol`` (listings of routes show the main table unless asked otherwise).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable, Iterator
from typing import Final, cast

from cosid.drivers.network.mirror import Changed, MirrorChanges, NetworkMirror
from cosid.drivers.network.tables import Table
from cosid.observers.progress import Progress
from cosid.resources import addresses, links, routes
from cosid.resources.addresses import AddressStatus
from cosid.resources.document import to_spec
from cosid.resources.links import LinkStatus
from cosid.resources.routes import RouteKey, RouteStatus
from cosid.runtime.controller import Output
from cosid.runtime.observer import Observation, Observed
from cosid.state.resource import Kind, Pointer

OBSERVER: Final = "network-observer"

_KINDS: Final = {
    Table.LINKS: links.STATUSES,
    Table.ADDRESSES: addresses.STATUSES,
    Table.ROUTES: routes.STATUSES,
}


class NetworkObserver:
    name = OBSERVER
    outputs = tuple(Output(kind) for kind in _KINDS.values())
    serves = (links.CONTROLLER, addresses.CONTROLLER, routes.CONTROLLER)

    def __init__(self, mirror: NetworkMirror) -> None:
        self._mirror = mirror
        self._written: dict[tuple[Table, Hashable], Pointer] = {}
        """Where each object's status is (a renamed or deleted link's name is gone from
        the mirror, its status still under the old one)."""
        self._changes: MirrorChanges | None = None
        self._progress = Progress()
        """How many of the mirror's changes (`MirrorChanges.noted`) are written."""

    async def observe(self) -> AsyncIterator[Observation]:
        changes = self._mirror.changes(frozenset(Table), track=True)
        self._changes = changes
        self._progress.restart()
        try:
            await self._mirror.current()
            noted = changes.noted
            changes.take()  # the first observation has everything
            self._written = {}
            yield Observation(self._observe(self._everything()), complete=True)
            self._progress.advance(noted)
            async for _ in changes:
                await self._mirror.current()
                noted = changes.noted
                yield Observation(self._observe(_each(changes.take())))
                self._progress.advance(noted)  # resumed: the runtime has written it
        finally:
            changes.close()

    async def caught_up(self) -> None:
        """Return once every change the kernel announced before this call is written."""
        await self._mirror.current()
        if self._changes is not None:
            await self._progress.reach(self._changes.noted)

    def _everything(self) -> Iterator[tuple[Table, Hashable]]:
        tables = self._mirror.tables
        yield from ((Table.LINKS, index) for index in tables.links)
        for index, on_link in tables.addresses.items():
            yield from ((Table.ADDRESSES, (index, cidr)) for cidr in on_link)
        yield from ((Table.ROUTES, key) for key in tables.routes)

    def _observe(self, objects: Iterator[tuple[Table, Hashable]]) -> dict[Pointer, Observed | None]:
        """The statuses of `objects` now: written under their ids, or None for the ones gone
        (and for the old id of one whose id changed)."""
        gone: dict[Pointer, Observed | None] = {}
        seen: dict[Pointer, Observed | None] = {}
        for table, key in objects:
            status = self._status(table, key)
            before = self._written.pop((table, key), None)
            if status is None:
                if before is not None:
                    gone[before] = None
                continue
            pointer = _pointer(_KINDS[table], status[0])
            if before is not None and before != pointer:
                gone[before] = None
            self._written[(table, key)] = pointer
            seen[pointer] = status[1]
        return {**gone, **seen}

    def _status(self, table: Table, key: Hashable) -> tuple[str, Observed] | None:
        """An object's id and status, None when the kernel no longer has it."""
        if table == Table.LINKS:
            return self._link_status(cast(int, key))
        if table == Table.ADDRESSES:
            return self._address_status(*cast(tuple[int, str], key))
        return self._route_status(cast(RouteKey, key))

    def _link_status(self, index: int) -> tuple[str, Observed] | None:
        link = self._mirror.tables.links.get(index)
        if link is None:
            return None
        status = LinkStatus(
            name=link.name,
            index=link.index,
            kind=link.kind,
            up=link.up,
            flags=list(link.flags),
            oper_state=link.oper_state,
            mtu=link.mtu,
            mac=link.mac,
            master=link.master,
        )
        return status.id, Observed(to_spec(status), {"kind": link.kind} if link.kind else {})

    def _address_status(self, index: int, cidr: str) -> tuple[str, Observed] | None:
        address = self._mirror.tables.addresses.get(index, {}).get(cidr)
        if address is None:
            return None
        status = AddressStatus(
            link=address.link,
            address=address.address,
            family=address.family,
            scope=address.scope,
            flags=list(address.flags),
            valid_lifetime=address.valid_lifetime,
            preferred_lifetime=address.preferred_lifetime,
        )
        labels = {"link": address.link, "family": address.family}
        return status.id, Observed(to_spec(status), labels)

    def _route_status(self, key: RouteKey) -> tuple[str, Observed] | None:
        by_link = self._mirror.tables.routes.get(key)
        if not by_link:
            return None
        first = min(by_link)
        route = by_link[first]
        status = RouteStatus(
            **key._asdict(),
            family=route.family,
            type=route.type,
            gateway=route.gateway,
            link=route.link,
            source=route.source,
            scope=route.scope,
            protocol=route.protocol,
            flags=list(route.flags),
            also_on=sorted(r.link for i, r in by_link.items() if i != first and r.link),
        )
        labels = {"table": key.table, "family": route.family, "protocol": route.protocol}
        return status.id, Observed(to_spec(status), labels)


def _each(changed: Changed) -> Iterator[tuple[Table, Hashable]]:
    for table, keys in changed.items():
        yield from ((table, key) for key in keys)


def _pointer(kind: Kind, id: str) -> Pointer:
    return Pointer(kind.namespace, kind.type, id)
