"""The link driver interface: find, create, configure and delete links by name; the kernel's
change notices; errors that say why not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cosid.drivers.errors import DriverError
from cosid.resources.addresses import AddressSpec, Family
from cosid.resources.links import LinkSpec
from cosid.runtime.controller import Notice


@dataclass(frozen=True, slots=True)
class LinkState:
    """A link as the kernel shows it."""

    name: str
    index: int
    kind: str | None
    """veth, bridge, ...; None for a link without one (a NIC, lo)."""
    flags: tuple[str, ...]
    oper_state: str
    mtu: int
    mac: str | None
    master: str | None
    """The name of the bridge or bond it is a port of."""

    @property
    def up(self) -> bool:
        return "UP" in self.flags


class LinkError(DriverError):
    """Base of the link driver's errors; the subject is the link's name."""

    reason = "LinkFailed"


class LinkNotFoundError(LinkError):
    """The kernel has no link of that name (the link itself, or one it names)."""

    reason = "LinkNotFound"


class LinkKindNotSupportedError(LinkError):
    """The running kernel cannot create links of the spec's kind (no driver built in or
    loaded: "Unknown device type")."""

    reason = "KindNotSupported"


class LinkExistsError(LinkError):
    """A link of that name appeared while cosid created it (or is the veth peer's name)."""

    reason = "LinkExists"


class LinkInvalidError(LinkError):
    """The kernel refused a setting (an MTU the device cannot take, a master that is not a
    bridge or bond...)."""

    reason = "InvalidSetting"


class LinkBusyError(LinkError):
    """The link is busy for that change (a MAC address the device changes only while down)."""

    reason = "LinkBusy"


class LinkPermissionError(LinkError):
    """Not allowed: no CAP_NET_ADMIN in the network namespace."""

    reason = "PermissionDenied"


class LinkChanges(Protocol):
    """Change notifications of the links: iterating yields a Notice once after each change (or
    burst of changes); `close` stops watching and ends the iteration."""

    def __aiter__(self) -> LinkChanges: ...

    async def __anext__(self) -> Notice: ...

    def close(self) -> None: ...


class LinkDriver(Protocol):
    """Links of the daemon's network namespace, by name. Every method raises a LinkError
    subclass naming the reason."""

    async def find(self, name: str) -> LinkState | None:
        """The link of that name, whoever made it; None when there is none."""
        ...

    async def create(self, spec: LinkSpec) -> None:
        """Create the spec's link (down, with its kind options, mtu and mac); the links it
        names (parent, dev) must exist. Raises LinkKindNotSupportedError when the kernel
        lacks the kind, LinkExistsError when the name is taken."""
        ...

    async def set_up(self, name: str, up: bool) -> None: ...

    async def set_mtu(self, name: str, mtu: int) -> None: ...

    async def set_mac(self, name: str, mac: str) -> None: ...

    async def set_master(self, name: str, master: str | None) -> None:
        """Make the link a port of `master`, or of none."""
        ...

    async def delete(self, name: str) -> None:
        """Delete the link (a veth's peer goes with it); nothing to do when it is gone."""
        ...

    def changes(self) -> LinkChanges:
        """The links' changes, watched from this call on (made inside the event loop that
        iterates them); see `cosid.drivers.network.events`."""
        ...


@dataclass(frozen=True, slots=True)
class AddressState:
    """An address of a link as the kernel shows it."""

    link: str
    address: str
    """With its prefix length, canonical (``2001:db8::5/64``)."""
    family: Family
    """inet or inet6."""
    scope: str
    """global, link, host, or the kernel's number for another."""
    flags: tuple[str, ...]
    """permanent, noprefixroute, nodad, tentative, ... (lower-case, sorted)."""
    valid_lifetime: int | None
    """Seconds; None: forever."""
    preferred_lifetime: int | None


class AddressError(DriverError):
    """Base of the address driver's errors; the subject is ``<link>/<cidr>``."""

    reason = "AddressFailed"


class AddressLinkNotFoundError(AddressError):
    """The link the address belongs to does not exist."""

    reason = "LinkNotFound"


class AddressInvalidError(AddressError):
    """The kernel refused the address or a flag of it."""

    reason = "InvalidSetting"


class AddressPermissionError(AddressError):
    """Not allowed: no CAP_NET_ADMIN in the network namespace."""

    reason = "PermissionDenied"


class AddressDriver(Protocol):
    """Addresses of the links of the daemon's network namespace. Every method raises an
    AddressError subclass naming the reason."""

    async def find(self, link: str, address: str) -> AddressState | None:
        """The link's address (``10.0.0.5/24``), whoever added it; None when the link has
        none such. Raises AddressLinkNotFoundError when there is no such link."""
        ...

    async def add(self, spec: AddressSpec) -> None:
        """Add the spec's address (scope, flags; lifetimes forever) to its link, or update the
        flags of the one it has."""
        ...

    async def delete(self, link: str, address: str) -> None:
        """Delete the address; nothing to do when it (or its link) is gone."""
        ...

    def changes(self) -> LinkChanges:
        """The changes of links and addresses (an address waits for its link), watched from
        this call on."""
        ...
