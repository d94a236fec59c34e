"""The kernel's links, addresses and routes as the mirror holds them, and how rtnetlink's
messages change them: a dump replaces a table, a notice changes one object.

What the kernel changes without a notice, this applies itself:
- a link taken down takes its IPv4 routes with it, but for the host-scoped local routes of
  its addresses; a link taken away takes them all (IPv6 announces its own);
- an IPv4 address deleted takes the routes preferring it as their source, unless another
  link still has it;
- a route replaced by one out of another link (`ip route replace`) is announced as the new
  one only: the old one goes;
- a carrier lost or found on a link that is up flags its IPv4 routes ``linkdown`` or clears
  that: if it has any, the routes are marked stale for the mirror to dump again (that is
  rare, and a flag's rule is the kernel's to keep).

Every change is told to `note(table, key, drift)`; `stale(table)` asks for a dump.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import replace
from enum import StrEnum
from typing import Any

from pyroute2.netlink import NLM_F_REPLACE

from cosid.drivers.network.driver import AddressState, LinkState
from cosid.drivers.network.messages import (
    FAMILIES,
    address_cidr,
    address_state,
    is_route,
    link_state,
    route_key,
    route_state,
)
from cosid.drivers.network.route_driver import RouteState
from cosid.resources.routes import RouteKey


class Table(StrEnum):
    LINKS = "links"
    ADDRESSES = "addresses"
    ROUTES = "routes"


Note = Callable[[Table, Hashable, bool], None]
"""Told of each change: the table, the object's key (a link index, a (link index, cidr) pair,
a route key) and whether it was someone else's change (drift)."""
Slot = tuple[RouteKey, int]
"""A route's place: its key and its output link index."""


class KernelTables:
    def __init__(self, note: Note, stale: Callable[[Table], None]) -> None:
        self._note = note
        self._stale = stale
        self.links: dict[int, LinkState] = {}
        self.indexes: dict[str, int] = {}
        """Link indexes by name."""
        self.addresses: dict[int, dict[str, AddressState]] = {}
        """By link index, then by address (with its prefix length)."""
        self.routes: dict[RouteKey, dict[int, RouteState]] = {}
        """By key, then by output link index (0: none, or several next hops): IPv6 keeps a
        route of one key per link (fe80::/64 on each)."""
        self._ipv4_locals: Counter[str] = Counter()
        """How many links have each IPv4 address."""
        self._by_source: dict[str, set[Slot]] = {}
        """The IPv4 routes preferring each source address."""

    def name(self, index: int | None) -> str | None:
        state = None if index is None else self.links.get(index)
        return None if state is None else state.name

    # Dumps: a whole table at once; `announce` tells its differences.

    def replace_links(self, messages: list[Any], announce: bool) -> None:
        before = self.links
        self.links, self.indexes = {}, {}
        for message in messages:  # names first: masters are named by index
            if message["family"] == socket.AF_UNSPEC:
                self.indexes[message.get("ifname")] = message["index"]
        for message in messages:
            if message["family"] == socket.AF_UNSPEC:
                master = self.name(message.get("master"))
                self.links[message["index"]] = link_state(message, master)
        for index in before.keys() | self.links.keys() if announce else ():
            if before.get(index) != self.links.get(index):
                self._note(Table.LINKS, index, True)

    def replace_addresses(self, messages: list[Any], announce: bool) -> None:
        before = self.addresses
        self.addresses, self._ipv4_locals = {}, Counter()
        for message in messages:
            link = self.name(message["index"])
            if link is not None and message["family"] in FAMILIES:
                state = address_state(link, message)
                self.addresses.setdefault(message["index"], {})[state.address] = state
                self._count_local(state, 1)
        for index in before.keys() | self.addresses.keys() if announce else ():
            old, new = before.get(index, {}), self.addresses.get(index, {})
            for cidr in old.keys() | new.keys():
                if old.get(cidr) != new.get(cidr):
                    self._note(Table.ADDRESSES, (index, cidr), True)

    def replace_routes(self, messages: list[Any], announce: bool) -> None:
        before = self.routes
        self.routes, self._by_source = {}, {}
        for message in messages:
            if is_route(message):
                state = route_state(message, self.name(message.get("oif")))
                self._put_route(state, message.get("oif") or 0)
        for key in before.keys() | self.routes.keys() if announce else ():
            if before.get(key) != self.routes.get(key):
                self._note(Table.ROUTES, key, True)

    # Notices: one object each.

    def apply(self, message: Any, drift: bool) -> None:
        event = message.get("event")
        if event in ("RTM_NEWLINK", "RTM_DELLINK") and message["family"] == socket.AF_UNSPEC:
            # (a bridge also sends AF_BRIDGE ones about its ports: no link comes or goes)
            self._apply_link(message, event == "RTM_NEWLINK", drift)
        elif event in ("RTM_NEWADDR", "RTM_DELADDR"):
            self._apply_address(message, event == "RTM_NEWADDR", drift)
        elif event in ("RTM_NEWROUTE", "RTM_DELROUTE") and is_route(message):
            self._apply_route(message, event == "RTM_NEWROUTE", drift)

    def _apply_link(self, message: Any, new: bool, drift: bool) -> None:
        index = message["index"]
        before = self.links.pop(index, None)
        if before is not None and self.indexes.get(before.name) == index:
            del self.indexes[before.name]
        if not new:
            self._forget_link(index, drift)
            return
        state = link_state(message, self.name(message.get("master")))
        self.links[index] = state
        self.indexes[state.name] = index
        if before is not None:
            if before.name != state.name:
                self._renamed(index, before.name, drift)
            if before.up and not state.up:  # (the local routes of its addresses stay)
                self._drop_routes(
                    lambda slot, route: (
                        slot[1] == index and route.family == "inet" and route.scope != "host"
                    )
                )
            elif state.up and self._carrier_changed(before, state, index):
                self._stale(Table.ROUTES)
        if before != state:
            self._note(Table.LINKS, index, drift)

    def _carrier_changed(self, before: LinkState, now: LinkState, index: int) -> bool:
        """Whether the link's carrier came or went while it has IPv4 routes."""
        return ("LOWER_UP" in before.flags) != ("LOWER_UP" in now.flags) and any(
            index in by_link and by_link[index].family == "inet" for by_link in self.routes.values()
        )

    def _forget_link(self, index: int, drift: bool) -> None:
        """A link went away, and what was on it (the kernel's notices of those may not come)."""
        self._note(Table.LINKS, index, drift)
        for cidr, address in self.addresses.pop(index, {}).items():
            self._count_local(address, -1)
            self._note(Table.ADDRESSES, (index, cidr), drift)
        self._drop_routes(lambda slot, route: slot[1] == index)

    def _renamed(self, index: int, old: str, drift: bool) -> None:
        """A link has a new name: what names it (its addresses, routes, ports) changes too."""
        name = self.links[index].name
        on_link = self.addresses.get(index, {})
        for cidr, address in on_link.items():
            on_link[cidr] = replace(address, link=name)
            self._note(Table.ADDRESSES, (index, cidr), drift)
        for key, by_link in self.routes.items():
            if index in by_link:
                by_link[index] = replace(by_link[index], link=name)
                self._note(Table.ROUTES, key, drift)
        for port, link in self.links.items():
            if link.master == old:
                self.links[port] = replace(link, master=name)
                self._note(Table.LINKS, port, drift)

    def _apply_address(self, message: Any, new: bool, drift: bool) -> None:
        index = message["index"]
        link = self.name(index)
        if link is None or message["family"] not in FAMILIES:
            return
        on_link = self.addresses.setdefault(index, {})
        cidr = address_cidr(message)
        before = on_link.pop(cidr, None)
        if before is not None:
            self._count_local(before, -1)
        if new:
            state = on_link[cidr] = address_state(link, message)
            self._count_local(state, 1)
            if before == state:
                return
        elif before is None:
            return
        else:
            self._unused(before)
        self._note(Table.ADDRESSES, (index, cidr), drift)

    def _unused(self, address: AddressState) -> None:
        """An IPv4 address left a link: the routes preferring it go unless another has it."""
        if address.family != "inet":
            return
        local = _local(address)
        if self._ipv4_locals[local]:
            return
        for slot in list(self._by_source.pop(local, ())):
            self._pop_route(slot)
            self._note(Table.ROUTES, slot[0], True)

    def _apply_route(self, message: Any, new: bool, drift: bool) -> None:
        oif = message.get("oif") or 0
        if new:
            state = route_state(message, self.name(message.get("oif")))
            if message["header"]["flags"] & NLM_F_REPLACE:
                self._replaced(state.key, oif)
            if self.routes.get(state.key, {}).get(oif) == state:
                return
            self._put_route(state, oif)
            key = state.key
        else:
            key = route_key(message)
            if self._pop_route((key, oif)) is None:
                return
        self._note(Table.ROUTES, key, drift)

    def _replaced(self, key: RouteKey, oif: int) -> None:
        """A route under `key` replaced another (`ip route replace`), which the kernel does
        not announce gone: the one out of another link, when there was one; when there were
        several (routes appended), only a dump tells which."""
        others = [other for other in self.routes.get(key, {}) if other != oif]
        if len(others) == 1:
            self._pop_route((key, others[0]))
        elif others:
            self._stale(Table.ROUTES)

    def _put_route(self, state: RouteState, oif: int) -> None:
        self._pop_route((state.key, oif))
        self.routes.setdefault(state.key, {})[oif] = state
        if state.family == "inet" and state.source is not None:
            self._by_source.setdefault(state.source, set()).add((state.key, oif))

    def _pop_route(self, slot: Slot) -> RouteState | None:
        key, oif = slot
        by_link = self.routes.get(key, {})
        gone = by_link.pop(oif, None)
        if not by_link:
            self.routes.pop(key, None)
        if gone is not None and gone.source is not None:
            self._by_source.get(gone.source, set()).discard(slot)
        return gone

    def _drop_routes(self, going: Callable[[Slot, RouteState], bool]) -> None:
        """Remove the routes the kernel removed without a notice; a multipath IPv4 route
        may have lost a hop, which only a dump tells."""
        for key, by_link in list(self.routes.items()):
            for oif, route in list(by_link.items()):
                if going((key, oif), route):
                    self._pop_route((key, oif))
                    self._note(Table.ROUTES, key, True)
                elif "multipath" in route.flags and route.family == "inet":
                    self._stale(Table.ROUTES)

    def _count_local(self, address: AddressState, change: int) -> None:
        if address.family == "inet":
            self._ipv4_locals[_local(address)] += change


def _local(address: AddressState) -> str:
    return str(ipaddress.ip_interface(address.address).ip)
