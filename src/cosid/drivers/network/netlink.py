"""The netlink link driver: requests through the domain's rtnetlink socket
(`cosid.drivers.network.requests`: its namespace rules), reads from its mirror
(`cosid.drivers.network.mirror`)."""

from __future__ import annotations

import contextlib
import errno as errnos
import os
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from cosid.drivers.network.driver import (
    LinkBusyError,
    LinkError,
    LinkExistsError,
    LinkInvalidError,
    LinkKindNotSupportedError,
    LinkNotFoundError,
    LinkPermissionError,
    LinkState,
)
from cosid.drivers.network.mirror import MirrorChanges, NetworkMirror
from cosid.drivers.network.requests import RequestSocket
from cosid.drivers.network.tables import Table
from cosid.resources.links import BOND_MODES, LinkSpec

T = TypeVar("T")

_MACVLAN_MODES: Final = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
_ERRORS: Final[dict[int, type[LinkError]]] = {
    errnos.ENODEV: LinkNotFoundError,
    errnos.EEXIST: LinkExistsError,
    errnos.EINVAL: LinkInvalidError,
    errnos.ERANGE: LinkInvalidError,
    errnos.EBUSY: LinkBusyError,
    errnos.EADDRNOTAVAIL: LinkInvalidError,
    errnos.EPERM: LinkPermissionError,
    errnos.EACCES: LinkPermissionError,
}


class NetlinkLinkDriver:
    """Links through the domain's request socket, read from its mirror."""

    def __init__(self, requests: RequestSocket, mirror: NetworkMirror) -> None:
        self._requests = requests
        self._mirror = mirror

    async def find(self, name: str) -> LinkState | None:
        try:
            await self._mirror.current()
        except NetlinkError as error:
            raise _error(name, "reading it", error) from None
        return self._mirror.link(name)

    async def create(self, spec: LinkSpec) -> None:
        arguments = {"ifname": spec.name, "kind": spec.kind, **await self._kind_options(spec)}
        if spec.mtu is not None:
            arguments["mtu"] = spec.mtu
        if spec.mac is not None:
            arguments["address"] = spec.mac
        try:
            await self._call(spec.name, "creating it", lambda s: s.link("add", **arguments))
        except LinkError as error:
            if error.errno == errnos.EOPNOTSUPP:  # "Unknown device type"
                raise LinkKindNotSupportedError(
                    spec.name, f"the running kernel cannot create {spec.kind} links", error.errno
                ) from None
            raise

    async def set_up(self, name: str, up: bool) -> None:
        state = "up" if up else "down"
        await self._call(
            name, f"setting it {state}", lambda s: s.link("set", ifname=name, state=state)
        )

    async def set_mtu(self, name: str, mtu: int) -> None:
        await self._call(name, f"setting mtu {mtu}", lambda s: s.link("set", ifname=name, mtu=mtu))

    async def set_mac(self, name: str, mac: str) -> None:
        await self._call(
            name, f"setting address {mac}", lambda s: s.link("set", ifname=name, address=mac)
        )

    async def set_master(self, name: str, master: str | None) -> None:
        index = 0 if master is None else await self._index(master)
        await self._call(
            name, f"setting master {master}", lambda s: s.link("set", ifname=name, master=index)
        )

    async def delete(self, name: str) -> None:
        with contextlib.suppress(LinkNotFoundError):
            await self._call(name, "deleting it", lambda s: s.link("del", ifname=name))

    def changes(self) -> MirrorChanges:
        return self._mirror.changes(frozenset({Table.LINKS}))

    async def _kind_options(self, spec: LinkSpec) -> dict[str, Any]:
        """pyroute2's arguments for the kind's options, with the links they name as indexes."""
        if spec.veth is not None:
            return {"peer": spec.veth.peer}
        if spec.vlan is not None:
            return {"link": await self._index(spec.vlan.parent), "vlan_id": spec.vlan.id}
        if spec.macvlan is not None:
            return {
                "link": await self._index(spec.macvlan.parent),
                "macvlan_mode": _MACVLAN_MODES[spec.macvlan.mode],
            }
        if spec.vxlan is not None:
            options: dict[str, Any] = {"vxlan_id": spec.vxlan.vni}
            if spec.vxlan.dev is not None:
                options["vxlan_link"] = await self._index(spec.vxlan.dev)
            if spec.vxlan.port is not None:
                options["vxlan_port"] = spec.vxlan.port
            return options
        if spec.bond is not None and spec.bond.mode is not None:
            return {"bond_mode": BOND_MODES.index(spec.bond.mode)}
        return {}

    async def _index(self, name: str) -> int:
        found = await self.find(name)
        if found is None:
            raise LinkNotFoundError(name, "no such link", errnos.ENODEV)
        return found.index

    async def _call(
        self, name: str, doing: str, request: Callable[[AsyncIPRoute], Awaitable[T]]
    ) -> T:
        socket = await self._requests.socket()
        try:
            async with self._requests.slot():
                return await request(socket)
        except NetlinkError as error:
            raise _error(name, doing, error) from None


def _error(name: str, doing: str, error: NetlinkError) -> LinkError:
    """The error class for the kernel's errno."""
    kind = _ERRORS.get(error.code, LinkError)
    text = errnos.errorcode.get(error.code, "error")
    return kind(name, f"{doing}: {text} ({os.strerror(error.code)})", error.code)
