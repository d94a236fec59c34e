"""The netlink route driver: requests through the domain's rtnetlink socket
(`cosid.drivers.network.requests`), reads from its mirror (`cosid.drivers.network.mirror`): a
lookup, whatever the number of routes.

Writing: RTM_NEWROUTE with NLM_F_REPLACE (``ip route replace``) with exactly the spec's
attributes; RTM_DELROUTE with the spec's key, type, protocol and next hop, so that deleting an
IPv4 route of metric 0 never takes another metric's route (the kernel reads metric 0 as any).
"""

from __future__ import annotations

import errno as errnos
import os
import socket as sockets
from typing import Any, Final

from pyroute2.netlink.exceptions import NetlinkError

from cosid.drivers.network.messages import ROUTE_SCOPES, ROUTE_TYPES
from cosid.drivers.network.mirror import MirrorChanges, NetworkMirror
from cosid.drivers.network.requests import RequestSocket
from cosid.drivers.network.route_driver import (
    RouteError,
    RouteGatewayUnreachableError,
    RouteInvalidError,
    RouteLinkDownError,
    RouteLinkNotFoundError,
    RoutePermissionError,
    RouteState,
)
from cosid.drivers.network.tables import Table
from cosid.resources.routes import PROTOCOL_NAMES, TABLE_NAMES, RouteKey, RouteSpec

_NUMBERS: Final = {
    "table": {name: number for number, name in TABLE_NAMES.items()},
    "type": {name: number for number, name in ROUTE_TYPES.items()},
    "scope": {name: number for number, name in ROUTE_SCOPES.items()},
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


class NetlinkRouteDriver:
    """Routes through the domain's request socket, read from its mirror."""

    def __init__(self, requests: RequestSocket, mirror: NetworkMirror) -> None:
        self._requests = requests
        self._mirror = mirror

    async def find(self, key: RouteKey, link: str | None = None) -> RouteState | None:
        await self._current(key.id)
        return self._mirror.route(key, link)

    async def add(self, spec: RouteSpec) -> None:
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

    def changes(self) -> MirrorChanges:
        """What a route depends on: its link, the addresses that make its gateway reachable,
        and the routes themselves."""
        return self._mirror.changes(frozenset(Table))

    async def _write(
        self, spec: RouteSpec, doing: str, command: str, arguments: dict[str, Any]
    ) -> None:
        socket = await self._requests.socket()
        try:
            async with self._requests.slot():
                await socket.route(command, **arguments)
        except NetlinkError as error:
            if command == "del" and error.code in _GONE:
                return
            raise _error(spec.id, doing, error.code) from None
        except OSError as error:
            raise _error(spec.id, doing, error.errno or errnos.EIO) from None

    async def _current(self, subject: str) -> None:
        try:
            await self._mirror.current()
        except NetlinkError as error:
            raise _error(subject, "reading the routes", error.code) from None

    async def _index(self, spec: RouteSpec, link: str) -> int:
        await self._current(spec.id)
        found = self._mirror.link(link)
        if found is None:
            raise RouteLinkNotFoundError(spec.id, f"no link {link}", errnos.ENODEV)
        return found.index


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


def _error(subject: str, doing: str, errno: int) -> RouteError:
    """The error class for the kernel's (or the socket's) errno."""
    kind = _ERRORS.get(errno, RouteError)
    text = errnos.errorcode.get(errno, "error")
    return kind(subject, f"{doing}: {text} ({os.strerror(errno)})", errno)
