"""The sysctl driver interface: read and write one key; errors that say why a write failed."""

from __future__ import annotations

from typing import Protocol

from cosid.drivers.errors import DriverError


class SysctlError(DriverError):
    """Base of the sysctl driver's errors; the subject reads ``sysctl <key>``."""

    def __init__(self, key: str, detail: str, errno: int | None = None) -> None:
        super().__init__(f"sysctl {key}", detail, errno)
        self.key = key


class SysctlKeyError(SysctlError, ValueError):
    """The key is not a valid sysctl key, or resolves outside /proc/sys. A caller's bug:
    keys reach drivers validated by the resource models."""

    reason = "InvalidKey"


class SysctlReadError(SysctlError):
    """The key exists but cannot be read (write-only keys, like vm.drop_caches)."""

    reason = "ReadFailed"


class SysctlWriteError(SysctlError):
    """The kernel refused a write for a reason none of the subclasses names."""

    reason = "WriteFailed"


class SysctlNotSupportedError(SysctlWriteError):
    """This kernel (in this network namespace) has no such key."""

    reason = "NotSupported"


class SysctlPermissionError(SysctlWriteError):
    """The key is writable, but not by this process (not root, or lacking a capability)."""

    reason = "PermissionDenied"


class SysctlReadOnlyError(SysctlWriteError):
    """The key is read-only for everyone (like kernel.version)."""

    reason = "ReadOnly"


class SysctlInvalidValueError(SysctlWriteError):
    """The kernel refused the value (EINVAL, ERANGE): not a number, out of range, ..."""

    reason = "InvalidValue"


class SysctlDriver(Protocol):
    """Reads and writes sysctls by key, in either form (canonical dotted or slashed).

    Both methods raise `SysctlKeyError` for a key that is not valid or that could lead out
    of /proc/sys (through a symlink).
    """

    async def read(self, key: str) -> str | None:
        """The current value without its trailing newline; None if there is no such key.

        Raises SysctlReadError when the key exists but cannot be read.
        """
        ...

    async def write(self, key: str, value: str) -> None:
        """Set the key to a value (validated by `cosid.resources.sysctl.parse_value`).

        Raises a SysctlWriteError subclass naming the reason when the kernel refuses.
        """
        ...
