"""hostname drivers: the `HostnameDriver` Protocol and its errors (`driver`), and the kernel
driver (`kernel`): sethostname(2), setdomainname(2) and /etc/hostname under the root prefix."""

from cosid.drivers.hostname.driver import (
    HostnameDriver,
    HostnameError,
    HostnameInvalidNameError,
    HostnamePermissionError,
    HostnameReadError,
    HostnameState,
    HostnameSymlinkError,
    HostnameWriteError,
)

__all__ = [
    "HostnameDriver",
    "HostnameError",
    "HostnameInvalidNameError",
    "HostnamePermissionError",
    "HostnameReadError",
    "HostnameState",
    "HostnameSymlinkError",
    "HostnameWriteError",
]
