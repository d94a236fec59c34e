"""The netlink address driver: requests through the domain's rtnetlink socket
(`cosid.drivers.network.requests`), reads from its mirror (`cosid.drivers.network.mirror`): a
lookup, whatever the number of addresses."""

from __future__ import annotations

import errno as errnos
import ipaddress
import os
import socket as sockets
from typing import Final

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NAMES

from cosid.drivers.network.driver import (
    AddressError,
    AddressInvalidError,
    AddressLinkNotFoundError,
    AddressPermissionError,
    AddressState,
)
from cosid.drivers.network.messages import ADDRESS_SCOPES
from cosid.drivers.network.mirror import MirrorChanges, NetworkMirror
from cosid.drivers.network.requests import RequestSocket
from cosid.drivers.network.tables import Table
from cosid.resources.addresses import AddressSpec, address_id

ANNOUNCED: Final = 1.0
"""Seconds to wait for the kernel to announce an IPv6 address cosid added (it does so after
answering, from a work queue); past that, the mirror dumps the addresses."""
_SCOPE_NUMBERS: Final = {name: number for number, name in ADDRESS_SCOPES.items()}
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


class NetlinkAddressDriver:
    """Addresses through the domain's request socket, read from its mirror."""

    def __init__(self, requests: RequestSocket, mirror: NetworkMirror) -> None:
        self._requests = requests
        self._mirror = mirror

    async def find(self, link: str, address: str) -> AddressState | None:
        await self._index(link, address)  # AddressLinkNotFoundError without the link
        return self._mirror.address(link, address)

    async def add(self, spec: AddressSpec) -> None:
        index = await self._index(spec.link, spec.address)
        interface = ipaddress.ip_interface(spec.address)
        flags = 0
        for flag in spec.flags:
            flags |= _SPEC_FLAGS[flag]
        socket = await self._requests.socket()
        try:
            async with self._requests.slot():
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
        if interface.version == 6:
            await self._mirror.until(
                lambda: self._mirror.address(spec.link, spec.address) is not None, ANNOUNCED
            )

    async def delete(self, link: str, address: str) -> None:
        await self._current(address_id(link, address))
        found = self._mirror.link(link)
        if found is None:
            return
        interface = ipaddress.ip_interface(address)
        socket = await self._requests.socket()
        try:
            async with self._requests.slot():
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

    def changes(self) -> MirrorChanges:
        return self._mirror.changes(frozenset({Table.LINKS, Table.ADDRESSES}))

    async def _current(self, subject: str) -> None:
        try:
            await self._mirror.current()
        except NetlinkError as error:
            raise _error(subject, "reading the addresses", error) from None

    async def _index(self, link: str, address: str) -> int:
        await self._current(address_id(link, address))
        found = self._mirror.link(link)
        if found is None:
            subject = address_id(link, address)
            raise AddressLinkNotFoundError(subject, f"no link {link}", errnos.ENODEV)
        return found.index


def _family(interface: ipaddress.IPv4Interface | ipaddress.IPv6Interface) -> int:
    return sockets.AF_INET if interface.version == 4 else sockets.AF_INET6


def _error(subject: str, doing: str, error: NetlinkError) -> AddressError:
    """The error class for the kernel's errno."""
    kind = _ERRORS.get(error.code, AddressError)
    text = errnos.errorcode.get(error.code, "error")
    return kind(subject, f"{doing}: {text} ({os.strerror(error.code)})", error.code)
