"""The module driver of a sandboxed daemon: it reads, but loads and unloads nothing.

Modules belong to the one kernel every namespace shares; no sandbox isolates them, so a load
or unload in `--sandbox` (as root) would change the host. Resolving and reading change
nothing and stay allowed: built-in modules and modules the host has loaded still show, and a
kernel without module support still says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from cosid.drivers.modules.driver import ModuleDriver, ModuleError, ModuleInfo, Resolution


class ModuleNotIsolatedError(ModuleError):
    """A load or unload that would change the host's kernel."""

    reason = "NotIsolated"


class SandboxModuleDriver:
    """`ModuleDriver` that passes reads to `inner` and refuses every change."""

    def __init__(self, inner: ModuleDriver) -> None:
        self._inner = inner

    async def resolve(self, name: str) -> Resolution:
        return await self._inner.resolve(name)

    async def inspect(self, module: str) -> ModuleInfo:
        return await self._inner.inspect(module)

    async def load(self, resolution: Resolution, parameters: Mapping[str, str]) -> None:
        raise ModuleNotIsolatedError(
            resolution.module,
            "the sandbox cannot isolate kernel modules; loading one would change the host's kernel",
        )

    async def unload(self, module: str) -> None:
        raise ModuleNotIsolatedError(
            module,
            "the sandbox cannot isolate kernel modules; unloading one would change "
            "the host's kernel",
        )
