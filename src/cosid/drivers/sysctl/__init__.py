"""sysctl drivers: the `SysctlDriver` Protocol and its errors (`driver`), the procfs driver
(`procfs`), and the sysctl.d file that makes values hold at boot (`persist`)."""

from cosid.drivers.sysctl.driver import (
    SysctlDriver,
    SysctlError,
    SysctlInvalidValueError,
    SysctlKeyError,
    SysctlNotSupportedError,
    SysctlPermissionError,
    SysctlReadError,
    SysctlReadOnlyError,
    SysctlWriteError,
)

__all__ = [
    "SysctlDriver",
    "SysctlError",
    "SysctlInvalidValueError",
    "SysctlKeyError",
    "SysctlNotSupportedError",
    "SysctlPermissionError",
    "SysctlReadError",
    "SysctlReadOnlyError",
    "SysctlWriteError",
]
