"""Network drivers: the `LinkDriver` and `AddressDriver` Protocols, their errors and states
(`driver`); the netlink drivers (`netlink` for links, `addresses` over its socket: rtnetlink
through pyroute2) and the watcher of the kernel's change notices (`events`)."""

from cosid.drivers.network.driver import (
    LinkBusyError,
    LinkChanges,
    LinkDriver,
    LinkError,
    LinkExistsError,
    LinkInvalidError,
    LinkKindNotSupportedError,
    LinkNotFoundError,
    LinkPermissionError,
    LinkState,
)

__all__ = [
    "LinkBusyError",
    "LinkChanges",
    "LinkDriver",
    "LinkError",
    "LinkExistsError",
    "LinkInvalidError",
    "LinkKindNotSupportedError",
    "LinkNotFoundError",
    "LinkPermissionError",
    "LinkState",
]
