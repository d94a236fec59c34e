"""The netlink route driver: rtnetlink through the link driver's pyroute2 socket (the same
namespace rules: see `cosid.drivers.network.netlink`).

Reading: one dump of every route (both families, every table) and of the links' names, shared
by every `find` until the next change (`cosid.drivers.network.snapshot`): the kernel has no
filter by destination, so a dump per route would cost O(routes) each, O(n^2) for a burst.

Requests: at most `IN_FLIGHT` at once (`cosid.drivers.network.requests`).

Writing: RTM_NEWROUTE with NLM_F_REPLACE (``ip route replace``) with exactly the spec's
attributes; RTM_DELROUTE with the spec's key, type, protocol and next hop, so that deleting an
IPv4 route of metric 0 never takes another metric's route (the kernel reads metric 0 as any).
"""

from __future__ import annotations

import errno as errnos
import ipaddress
import os
import socket as sockets
from typing import Any, Final

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV4_ROUTE,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_IPV6_ROUTE,
    RTMGRP_LINK,
)

from cosid.drivers.network.events import NetlinkChanges
from cosid.drivers.network.netlink import NetlinkLinkDriver
from cosid.drivers.network.requests import request_slots
from cosid.drivers.network.route_driver import (
    RouteError,
    RouteGatewayUnreachableError,
    RouteInvalidError,
    RouteLinkDownError,
    RouteLinkNotFoundError,
    RoutePermissionError,
    RouteState,
)
from cosid.drivers.network.snapshot import Snapshot, SnapshotChanges
from cosid.resources.addresses import Family
from cosid.resources.routes import PROTOCOL_NAMES, TABLE_NAMES, RouteKey, RouteSpec

GROUPS: Final = (
    RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
)
"""What a route depends on: its link, the addresses that make its gateway reachable, and the
routes themselves."""
_TYPES: Final = {
    1: "unicast",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
}
_FAMILIES: Final[dict[int, Family]] = {sockets.AF_INET: "inet", sockets.AF_INET6: "inet6"}
_SCOPES: Final = {0: "universe", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
_FLAGS: Final = (
    ("dead", 1),
    ("pervasive", 2),
    ("onlink", 4),
    ("offload", 8),
    ("linkdown", 16),
    ("unresolved", 32),
    ("trap", 64),
)
_NUMBERS: Final = {
    "table": {name: number for number, name in TABLE_NAMES.items()},
    "type": {name: number for number, name in _TYPES.items()},
    "scope": {name: number for number, name in _SCOPES.items()},
    "protocol": {name: number for number, name in PROTOCOL_NAMES.items()},
}
_ERRORS: Final[dict[int, type[RouteError]]] = {
    errnos.ENODEV: RouteLinkNotFoundError,
    errnos.ENETDOWN: RouteLinkDownError,
    errnos.ENETUNREACH: RouteGatewayUnreachableError,
    errnos.EHOSTUNREACH: RouteGatewayUnreachableError,
    errnos.EINVAL: RouteInvalidError,
    errnos.ERANGE: RouteInvalidError,
    errnos.EOPNOTSUPP: RouteInvalidError,
    errnos.EPERM: RoutePermissionError,
    errnos.EACCES: RoutePermissionError,
}
_GONE: Final = (errnos.ESRCH, errnos.ENOENT)
"""What the kernel answers a delete of a route it does not have."""

Routes = dict[RouteKey, RouteState]


class NetlinkRouteDriver:
    """Routes over the links driver's socket (one socket for the whole domain)."""

    def __init__(self, links: NetlinkLinkDriver) -> None:
        self._links = links
        self.snapshot: Snapshot[Routes] = Snapshot(self._dump)
        self._in_flight = request_slots()

    async def find(self, key: RouteKey) -> RouteState | None:
        return (await self.snapshot.get()).get(key)

    async def add(self, spec: RouteSpec) -> None:
        async with self._in_flight:  # one slot: the link's lookup, then the write
            arguments = _attributes(spec)
            arguments["scope"] = _NUMBERS["scope"][spec.scope]
            if spec.gateway is not None:
                arguments["gateway"] = spec.gateway
            if spec.link is not None:
                arguments["oif"] = await self._index(spec, spec.link)
            if spec.source is not None:
                arguments["prefsrc"] = spec.source
            await self._write(spec, "adding it", "replace", arguments)

    async def delete(self, spec: RouteSpec) -> None:
        async with self._in_flight:  # one slot: the link's lookup, then the write
            arguments = _attributes(spec)
            arguments["scope"] = _NUMBERS["scope"]["nowhere"]  # any (what `ip route del` asks)
            if spec.gateway is not None:
                arguments["gateway"] = spec.gateway
            if spec.link is not None:
                try:
                    arguments["oif"] = await self._index(spec, spec.link)
                except RouteLinkNotFoundError:
                    return  # the kernel deleted the link's routes with it
            await self._write(spec, "deleting it", "del", arguments)

    def changes(self) -> SnapshotChanges:
        return self.snapshot.following(NetlinkChanges(GROUPS, own_port=self._links.own_port))

    async def _write(
        self, spec: RouteSpec, doing: str, command: str, arguments: dict[str, Any]
    ) -> None:
        socket = await self._links.socket()
        try:
            await socket.route(command, **arguments)
        except NetlinkError as error:
            if command == "del" and error.code in _GONE:
                return
            raise _error(spec.id, doing, error.code) from None
        except OSError as error:
            raise _error(spec.id, doing, error.errno or errnos.EIO) from None
        finally:
            self.snapshot.invalidate()

    async def _index(self, spec: RouteSpec, link: str) -> int:
        found = await self._links.find(link)
        if found is None:
            raise RouteLinkNotFoundError(spec.id, f"no link {link}", errnos.ENODEV)
        return found.index

    async def _dump(self) -> Routes:
        """Every IPv4 and IPv6 route of every table, by key (routes with a TOS, which no spec
        has, left out; so are the multicast routing and MPLS families an unspecified dump
        brings too)."""
        socket = await self._links.socket()
        try:
            async with self._in_flight:
                names = {m["index"]: m.get("ifname") async for m in await socket.link("dump")}
                routes = [
                    _state(m, names)
                    async for m in await socket.route("dump")
                    if m["family"] in _FAMILIES and not m["tos"]
                ]
        except NetlinkError as error:
            raise _error("routes", "reading them", error.code) from None
        except OSError as error:
            raise _error("routes", "reading them", error.errno or errnos.EIO) from None
        return {route.key: route for route in routes}


def _attributes(spec: RouteSpec) -> dict[str, Any]:
    """pyroute2's arguments for the route's key, type and protocol."""
    return {
        "dst": spec.destination,
        "family": sockets.AF_INET if spec.family == "inet" else sockets.AF_INET6,
        "table": _NUMBERS["table"].get(spec.table) or int(spec.table),
        "priority": spec.metric,
        "type": _NUMBERS["type"][spec.type],
        "proto": _NUMBERS["protocol"].get(spec.protocol) or int(spec.protocol),
    }


def _state(message: Any, names: dict[int, str]) -> RouteState:
    family = _FAMILIES[message["family"]]
    unspecified = "0.0.0.0" if family == "inet" else "::"
    destination = ipaddress.ip_network(f"{message.get('dst') or unspecified}/{message['dst_len']}")
    table: int = message.get("table")
    flags: int = message["flags"]
    hops = message.get("multipath")
    oif = message.get("oif")
    return RouteState(
        key=RouteKey(
            TABLE_NAMES.get(table, str(table)),
            destination.with_prefixlen,
            message.get("priority") or 0,
        ),
        family=family,
        type=_TYPES.get(message["type"], str(message["type"])),
        protocol=PROTOCOL_NAMES.get(message["proto"], str(message["proto"])),
        scope=_SCOPES.get(message["scope"], str(message["scope"])),
        gateway=message.get("gateway"),
        link=None if oif is None else names.get(oif),
        source=message.get("prefsrc"),
        flags=tuple(name for name, bit in _FLAGS if flags & bit) + (("multipath",) if hops else ()),
    )


def _error(subject: str, doing: str, errno: int) -> RouteError:
    """The error class for the kernel's (or the socket's) errno."""
    kind = _ERRORS.get(errno, RouteError)
    text = errnos.errorcode.get(errno, "error")
    return kind(subject, f"{doing}: {text} ({os.strerror(errno)})", errno)
