"""Per-link DNS through systemd-resolved: its Manager's link methods over D-Bus.

resolved keeps DNS settings per link, by index: the driver finds the index of the link's name
in the daemon's network namespace (``if_nametoindex``; resolved must see the same links) and
calls ``SetLinkDNS(index, [(family, address bytes)])``, ``SetLinkDomains(index, [(name,
routing_only)])`` and, when the spec says, ``SetLinkDefaultRoute(index, bool)``. `read` asks
``GetLink(index)`` for the link's object and reads its ``DNS``, ``Domains`` and
``DefaultRoute`` properties, so the status is what resolved uses, not what cosid sent.
`revert` is ``RevertLink(index)``: resolved forgets every per-link setting, cosid's included.

resolved forgets these settings by itself too: when it restarts, when the link goes away and
comes back, when networkd reconfigures the link. Nothing on the bus says so cheaply, so the
controller's resync (and each link change) reads them again and repairs.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Final

from pyroute2.netlink.rtnl import RTMGRP_LINK

from cosid.drivers.dbus import BusConnection, BusError, BusObject, SystemBus
from cosid.drivers.dns.link_driver import DnsLinkBusyError, DnsLinkNotFoundError
from cosid.drivers.dns.resolved import RESOLVED, server_address
from cosid.drivers.network.events import NetlinkChanges
from cosid.resources.link_resolvers import (
    LinkResolverSpec,
    LinkResolverStatus,
    join_domain,
    split_domain,
)

LINK_INTERFACE: Final = "org.freedesktop.resolve1.Link"
_NO_SUCH_LINK: Final = "org.freedesktop.resolve1.NoSuchLink"
_LINK_BUSY: Final = "org.freedesktop.resolve1.LinkBusy"


class ResolvedLinkDriver:
    """`LinkResolverDriver` over systemd-resolved on `bus`."""

    def __init__(self, bus: SystemBus) -> None:
        self.bus = bus

    def changes(self) -> NetlinkChanges:
        return NetlinkChanges(RTMGRP_LINK)

    async def read(self, link: str) -> LinkResolverStatus:
        index = _index(link)
        async with self.bus.connect() as connection:
            (path,) = await _call(connection, link, "GetLink", "i", (index,))
            found = await connection.properties(BusObject(RESOLVED.service, path, LINK_INTERFACE))
        return LinkResolverStatus(
            link=link,
            index=index,
            servers=tuple(server_address(family, packed) for family, packed in found["DNS"]),
            domains=tuple(join_domain(name, routing) for name, routing in found["Domains"]),
            default_route=bool(found["DefaultRoute"]),
        )

    async def write(self, spec: LinkResolverSpec) -> None:
        index = _index(spec.link)
        servers = [_server(server) for server in spec.servers]
        domains = [list(split_domain(domain)) for domain in spec.domains]
        async with self.bus.connect() as connection:
            await _call(connection, spec.link, "SetLinkDNS", "ia(iay)", (index, servers))
            await _call(connection, spec.link, "SetLinkDomains", "ia(sb)", (index, domains))
            if spec.default_route is not None:
                route = (index, spec.default_route)
                await _call(connection, spec.link, "SetLinkDefaultRoute", "ib", route)

    async def revert(self, link: str) -> None:
        try:
            index = _index(link)
            async with self.bus.connect() as connection:
                await _call(connection, link, "RevertLink", "i", (index,))
        except DnsLinkNotFoundError:
            return


def _index(link: str) -> int:
    """The link's index in this thread's network namespace."""
    try:
        return socket.if_nametoindex(link)
    except OSError as error:  # ENODEV, as a rule
        raise DnsLinkNotFoundError(link, f"no such link ({error.strerror})") from None


def _server(text: str) -> list[Any]:
    """A server as ``SetLinkDNS`` takes it: (address family, address bytes)."""
    address = ipaddress.ip_address(text)
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    return [family, address.packed]


async def _call(
    connection: BusConnection, link: str, member: str, signature: str, body: tuple[Any, ...]
) -> list[Any]:
    """`member` of resolved's Manager, resolved's refusals about the link raised as such."""
    try:
        return await connection.call(RESOLVED, member, signature, body)
    except BusError as error:
        if error.name == _NO_SUCH_LINK:
            raise DnsLinkNotFoundError(link, f"resolved does not know it: {error.detail}") from None
        if error.name == _LINK_BUSY:
            raise DnsLinkBusyError(link, f"resolved refuses it: {error.detail}") from None
        raise
