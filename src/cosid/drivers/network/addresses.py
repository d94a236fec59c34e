"""The netlink address driver: rtnetlink through the link driver's pyroute2 socket (the same
namespace rules: see `cosid.drivers.network.netlink`).

Reading: one dump of every address and of the links' names, shared by every `find` until the
next change (`cosid.drivers.network.snapshot`): without the socket's strict checking the kernel
sends every address whatever the filter, so a dump per address would cost O(addresses) each,
O(n^2) for a burst. Requests: at most `IN_FLIGHT` at once (`cosid.drivers.network.requests`)."""

from __future__ import annotations

import errno as errnos
import ipaddress
import os
import socket as sockets
from dataclasses import dataclass
from typing import Any, Final

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NAMES

from cosid.drivers.network.driver import (
    AddressError,
    AddressInvalidError,
    AddressLinkNotFoundError,
    AddressPermissionError,
    AddressState,
)
from cosid.drivers.network.events import NetlinkChanges
from cosid.drivers.network.netlink import NetlinkLinkDriver
from cosid.drivers.network.requests import request_slots
from cosid.drivers.network.snapshot import Snapshot, SnapshotChanges
from cosid.resources.addresses import AddressSpec, address_id

FOREVER: Final = 0xFFFFFFFF
"""The kernel's lifetime for "forever"."""
_SCOPES: Final = {0: "global", 253: "link", 254: "host"}
_SCOPE_NUMBERS: Final = {name: number for number, name in _SCOPES.items()}
_FLAGS: Final = tuple(
    (name.removeprefix("IFA_F_").lower(), bit)
    for name, bit in IFA_F_NAMES.items()
    if name != "IFA_F_TEMPORARY"  # IFA_F_SECONDARY's bit, named by family
)
_SPEC_FLAGS: Final = {
    "noprefixroute": IFA_F_NAMES["IFA_F_NOPREFIXROUTE"],
    "nodad": IFA_F_NAMES["IFA_F_NODAD"],
    "mngtmpaddr": IFA_F_NAMES["IFA_F_MANAGETEMPADDR"],
    "homeaddress": IFA_F_NAMES["IFA_F_HOMEADDRESS"],
}
_ERRORS: Final[dict[int, type[AddressError]]] = {
    errnos.ENODEV: AddressLinkNotFoundError,
    errnos.EINVAL: AddressInvalidError,
    errnos.EOPNOTSUPP: AddressInvalidError,
    errnos.EPERM: AddressPermissionError,
    errnos.EACCES: AddressPermissionError,
}


@dataclass(frozen=True, slots=True)
class Addresses:
    """What one dump shows: the links by name, and their addresses by (link, cidr)."""

    links: frozenset[str]
    addresses: dict[tuple[str, str], AddressState]


class NetlinkAddressDriver:
    """Addresses over the links driver's socket (one socket for the whole domain)."""

    def __init__(self, links: NetlinkLinkDriver) -> None:
        self._links = links
        self.snapshot: Snapshot[Addresses] = Snapshot(self._dump)
        self._in_flight = request_slots()

    async def find(self, link: str, address: str) -> AddressState | None:
        seen = await self.snapshot.get()
        if link not in seen.links:
            subject = address_id(link, address)
            raise AddressLinkNotFoundError(subject, f"no link {link}", errnos.ENODEV)
        return seen.addresses.get((link, address))

    async def add(self, spec: AddressSpec) -> None:
        async with self._in_flight:  # one slot: the link's lookup, then the write
            index = await self._index(spec.link, spec.address)
            interface = ipaddress.ip_interface(spec.address)
            flags = 0
            for flag in spec.flags:
                flags |= _SPEC_FLAGS[flag]
            socket = await self._links.socket()
            try:
                await socket.addr(
                    "replace",
                    index=index,
                    family=_family(interface),
                    address=str(interface.ip),
                    prefixlen=interface.network.prefixlen,
                    scope=_SCOPE_NUMBERS[spec.scope],
                    flags=flags,
                )
            except NetlinkError as error:
                raise _error(spec.id, "adding it", error) from None
            finally:
                self.snapshot.invalidate()

    async def delete(self, link: str, address: str) -> None:
        async with self._in_flight:  # one slot: the link's lookup, then the write
            found = await self._links.find(link)
            if found is None:
                return
            interface = ipaddress.ip_interface(address)
            socket = await self._links.socket()
            try:
                await socket.addr(
                    "del",
                    index=found.index,
                    family=_family(interface),
                    address=str(interface.ip),
                    prefixlen=interface.network.prefixlen,
                )
            except NetlinkError as error:
                if error.code not in (errnos.EADDRNOTAVAIL, errnos.ENODEV):  # gone already
                    raise _error(address_id(link, address), "deleting it", error) from None
            finally:
                self.snapshot.invalidate()

    def changes(self) -> SnapshotChanges:
        return self.snapshot.following(
            NetlinkChanges(
                RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, own_port=self._links.own_port
            )
        )

    async def _dump(self) -> Addresses:
        """Every link's name and every address."""
        socket = await self._links.socket()
        try:
            async with self._in_flight:
                names = {m["index"]: m.get("ifname") async for m in await socket.link("dump")}
                states = [
                    _state(names[m["index"]], m)
                    async for m in await socket.addr("dump")
                    if m["index"] in names
                ]
        except NetlinkError as error:
            raise _error("addresses", "reading them", error) from None
        return Addresses(
            frozenset(names.values()), {(state.link, state.address): state for state in states}
        )

    async def _index(self, link: str, address: str) -> int:
        found = await self._links.find(link)
        if found is None:
            subject = address_id(link, address)
            raise AddressLinkNotFoundError(subject, f"no link {link}", errnos.ENODEV)
        return found.index


def _family(interface: ipaddress.IPv4Interface | ipaddress.IPv6Interface) -> int:
    return sockets.AF_INET if interface.version == 4 else sockets.AF_INET6


def _cidr(message: Any) -> str:
    return ipaddress.ip_interface(f"{message.get('address')}/{message['prefixlen']}").with_prefixlen


def _state(link: str, message: Any) -> AddressState:
    flags: int = message.get("flags") or message["flags"]  # IFA_FLAGS, else the header's
    cacheinfo = message.get("cacheinfo") or {}
    return AddressState(
        link=link,
        address=_cidr(message),
        family="inet" if message["family"] == sockets.AF_INET else "inet6",
        scope=_SCOPES.get(message["scope"], str(message["scope"])),
        flags=tuple(sorted(name for name, bit in _FLAGS if flags & bit)),
        valid_lifetime=_lifetime(cacheinfo.get("ifa_valid")),
        preferred_lifetime=_lifetime(cacheinfo.get("ifa_preferred")),
    )


def _lifetime(seconds: int | None) -> int | None:
    return None if seconds is None or seconds == FOREVER else seconds


def _error(subject: str, doing: str, error: NetlinkError) -> AddressError:
    """The error class for the kernel's errno."""
    kind = _ERRORS.get(error.code, AddressError)
    text = errnos.errorcode.get(error.code, "error")
    return kind(subject, f"{doing}: {text} ({os.strerror(error.code)})", error.code)
