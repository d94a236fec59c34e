"""MOTD drivers: the `MotdDriver` Protocol and its errors (`driver`), and the driver that writes
/etc/motd under the root prefix (`file`)."""

from cosid.drivers.motd.driver import (
    MotdDriver,
    MotdError,
    MotdFile,
    MotdNotAFileError,
    MotdPermissionError,
    MotdReadError,
    MotdReadOnlyError,
    MotdSymlinkError,
    MotdWriteError,
)

__all__ = [
    "MotdDriver",
    "MotdError",
    "MotdFile",
    "MotdNotAFileError",
    "MotdPermissionError",
    "MotdReadError",
    "MotdReadOnlyError",
    "MotdSymlinkError",
    "MotdWriteError",
]
