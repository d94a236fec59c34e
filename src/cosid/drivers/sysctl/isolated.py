"""The sysctl driver of a sandboxed daemon: writes only what the sandbox isolates.

In `--sandbox` the daemon has a network namespace of its own, so `net.*` sysctls are the
sandbox's; every other sysctl is the host kernel's, and writing it (as root) would change the
host. Reads stay allowed: they change nothing.
"""

from __future__ import annotations

from cosid.drivers.sysctl.driver import SysctlDriver, SysctlWriteError
from cosid.resources.sysctl import parse_key

ISOLATED_PREFIX = "net."


class SysctlNotIsolatedError(SysctlWriteError):
    reason = "NotIsolated"


class NetworkNamespaceSysctlDriver:
    def __init__(self, inner: SysctlDriver) -> None:
        self._inner = inner

    async def read(self, key: str) -> str | None:
        return await self._inner.read(key)

    async def write(self, key: str, value: str) -> None:
        if not parse_key(key).startswith(ISOLATED_PREFIX):
            raise SysctlNotIsolatedError(
                key, "the sandbox isolates only net.* sysctls; this one is the host's"
            )
        await self._inner.write(key, value)
