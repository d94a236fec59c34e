"""Network drivers: the `LinkDriver` Protocol, its errors and `LinkState` (`driver`); the
netlink driver (`netlink`: rtnetlink through pyroute2) and the watcher of the kernel's change
notices (`events`)."""

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
