"""The netlink link driver: rtnetlink through pyroute2's asyncio socket, in the network
namespace of the thread whose event loop first uses it (the daemon's: its own in --sandbox,
the one `--netns` names otherwise). Never pyroute2's `netns=` (it forks a child, and creates
the namespace if missing), and never the `ip` program."""

from __future__ import annotations

import asyncio
import contextlib
import errno as errnos
import os
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifinfmsg import IFF_NAMES

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
from cosid.drivers.network.events import NetlinkChanges
from cosid.resources.links import BOND_MODES, LinkSpec

T = TypeVar("T")

_FLAGS: Final = tuple((name.removeprefix("IFF_"), bit) for name, bit in IFF_NAMES.items())
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
    """Links over one rtnetlink socket, opened in the running event loop on first use (and
    subscribed to nothing: change notices have their own socket, `changes`)."""

    def __init__(self) -> None:
        self._socket: AsyncIPRoute | None = None
        self._opening = asyncio.Lock()

    async def find(self, name: str) -> LinkState | None:
        socket = await self.socket()
        try:
            [message] = await socket.link("get", ifname=name)
        except NetlinkError as error:
            if error.code == errnos.ENODEV:
                return None
            raise _error(name, "reading it", error) from None
        master = message.get("master")
        return LinkState(
            name=name,
            index=message["index"],
            kind=message.get(("linkinfo", "kind")),
            flags=tuple(flag for flag, bit in _FLAGS if message["flags"] & bit),
            oper_state=message.get("operstate") or "UNKNOWN",
            mtu=message.get("mtu"),
            mac=message.get("address"),
            master=None if master is None else await self._name(master),
        )

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

    def changes(self) -> NetlinkChanges:
        return NetlinkChanges(own_port=self.own_port)

    def own_port(self) -> int:
        """The netlink port id of the request socket (0 until it is open and has sent):
        the kernel stamps the notifications of cosid's own changes with it."""
        if self._socket is None:
            return 0
        port: int = self._socket.socket.getsockname()[0]
        return port

    def close(self) -> None:
        """Close the socket (a later call opens another)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

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

    async def _name(self, index: int) -> str | None:
        socket = await self.socket()
        try:
            [message] = await socket.link("get", index=index)
        except NetlinkError:
            return None  # gone meanwhile
        name: str | None = message.get("ifname")
        return name

    async def _call(
        self, name: str, doing: str, request: Callable[[AsyncIPRoute], Awaitable[T]]
    ) -> T:
        socket = await self.socket()
        try:
            return await request(socket)
        except NetlinkError as error:
            raise _error(name, doing, error) from None

    async def socket(self) -> AsyncIPRoute:
        """The rtnetlink socket, opened on first use (the address driver shares it)."""
        async with self._opening:
            if self._socket is None:
                socket = AsyncIPRoute(groups=0)
                await socket.setup_endpoint()
                self._socket = socket
            return self._socket


def _error(name: str, doing: str, error: NetlinkError) -> LinkError:
    """The error class for the kernel's errno."""
    kind = _ERRORS.get(error.code, LinkError)
    text = errnos.errorcode.get(error.code, "error")
    return kind(name, f"{doing}: {text} ({os.strerror(error.code)})", error.code)
