"""Mount drivers: the `MountDriver` Protocol, its errors and `Fit` (`driver`); the kernel
driver (`kernel`: mount(2), umount2(2)), with the mount table it reads (`mountinfo`), the
watcher that notices the table change (`watch`), the options in the kernel's words
(`options`) and the configuration's deny lists (`policy`); the systemd driver (`systemd`:
transient mount units over D-Bus, the rest as the kernel driver)."""

from cosid.drivers.mounts.driver import (
    Fit,
    MountBusyError,
    MountDeniedError,
    MountDriver,
    MountError,
    MountInvalidError,
    MountNotAppliedError,
    MountPermissionError,
    MountReadError,
    MountReadOnlyError,
    MountSourceNotFoundError,
    MountSymlinkError,
    MountTargetNotFoundError,
    MountUnknownFilesystemError,
    TableChanges,
)
from cosid.drivers.mounts.mountinfo import MountEntry

__all__ = [
    "Fit",
    "MountBusyError",
    "MountDeniedError",
    "MountDriver",
    "MountEntry",
    "MountError",
    "MountInvalidError",
    "MountNotAppliedError",
    "MountPermissionError",
    "MountReadError",
    "MountReadOnlyError",
    "MountSourceNotFoundError",
    "MountSymlinkError",
    "MountTargetNotFoundError",
    "MountUnknownFilesystemError",
    "TableChanges",
]
