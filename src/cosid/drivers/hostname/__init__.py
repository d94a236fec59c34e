"""hostname drivers: the `HostnameDriver` Protocol and its errors (`driver`), the kernel
driver (`kernel`): sethostname(2), setdomainname(2) and /etc/hostname under the root prefix,
and the hostnamed driver (`hostnamed`): systemd-hostnamed on the system bus. The drivers are
imported from their modules, so only a daemon that picks hostnamed loads D-Bus."""

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
