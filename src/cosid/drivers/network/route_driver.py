"""The route driver interface: find, add (or replace) and delete routes by their kernel key;
the kernel's change notices; errors that say why not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cosid.drivers.errors import DriverError
from cosid.drivers.network.driver import LinkChanges
from cosid.resources.addresses import Family
from cosid.resources.routes import RouteKey, RouteSpec


@dataclass(frozen=True, slots=True)
class RouteState:
    """A route as the kernel shows it."""

    key: RouteKey
    family: Family
    type: str
    """unicast, blackhole, ..., or the kernel's number for another."""
    protocol: str
    """static, boot, kernel, ..., or the kernel's number for another."""
    scope: str
    """universe, site, link, host, nowhere, or the kernel's number for another."""
    gateway: str | None
    link: str | None
    """The output link's name."""
    source: str | None
    flags: tuple[str, ...]
    """linkdown, onlink, dead, ..., and multipath for a route of several next hops (whose
    gateway and link are then None)."""


class RouteError(DriverError):
    """Base of the route driver's errors; the subject is the route's id."""

    reason = "RouteFailed"


class RouteLinkNotFoundError(RouteError):
    """The route's output link does not exist."""

    reason = "LinkNotFound"


class RouteLinkDownError(RouteError):
    """The route's output link is down (ENETDOWN)."""

    reason = "LinkDown"


class RouteGatewayUnreachableError(RouteError):
    """The kernel has no route to the gateway on any link (or the spec's link) that is up
    (ENETUNREACH for IPv4, EHOSTUNREACH for IPv6)."""

    reason = "GatewayUnreachable"


class RouteInvalidError(RouteError):
    """The kernel refused the route (a source that is not the host's, a table it cannot
    make...)."""

    reason = "InvalidSetting"


class RoutePermissionError(RouteError):
    """Not allowed: no CAP_NET_ADMIN in the network namespace."""

    reason = "PermissionDenied"


class RouteDriver(Protocol):
    """Routes of the daemon's network namespace, by their kernel key. Every method raises a
    RouteError subclass naming the reason."""

    async def find(self, key: RouteKey, link: str | None = None) -> RouteState | None:
        """The route under the key, whoever added it; None when there is none. IPv6 keeps a
        route of one key per link: then the one out of `link` if given, else any."""
        ...

    async def add(self, spec: RouteSpec) -> None:
        """Add the spec's route, or replace the one under its key with it."""
        ...

    async def delete(self, spec: RouteSpec) -> None:
        """Delete the route under the spec's key that has the spec's type, protocol and next
        hop; nothing to do when there is none."""
        ...

    def changes(self) -> LinkChanges:
        """The changes of links, addresses and routes (a route waits for its link and its
        gateway's reachability), watched from this call on."""
        ...
