"""modules: loads each KernelModuleSpec's module (its dependencies first), remembers which
modules were loaded before cosid loaded them, and unloads the rest when the spec is deleted.

Reads: KernelModuleSpecs (strong). Writes: KernelModuleStatuses (what the kernel has) and
KernelModuleOriginals (durable, per module: whether it was loaded when cosid first needed it,
as the spec's module or as a dependency).

An original answers "did cosid load the copy of this module that is loaded now?". It is
written the first time cosid needs the module, before it loads anything, and rewritten only
when the module is found absent (whoever loaded it before has unloaded it since, so the next
load is cosid's). Deleting a spec unloads its module and then its dependencies, the last
loaded first, each only if cosid loaded it and no other spec needs it; its module waits while
in use (`InUse`, retried), a dependency still in use is left loaded. A built-in module is
reported as such and never unloaded.

The kernel announces no module changes, so drift (a module cosid loaded, unloaded by hand) is
found by the runtime's resync, and repaired by loading it again.
"""

from __future__ import annotations

from pathlib import Path

from cosid.drivers.modules import (
    ModuleDriver,
    ModuleError,
    ModuleInfo,
    ModuleInUseError,
    Resolution,
)
from cosid.resources.document import from_spec, to_spec
from cosid.resources.modules import (
    CONTROLLER,
    ORIGINALS,
    PRESENT_STATES,
    SPECS,
    STATUSES,
    KernelModuleOriginal,
    KernelModuleSpec,
    KernelModuleStatus,
)
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Phase, Pointer, Resource

DEFAULT_RESYNC_SECONDS = 60.0


def _pointer(kind: Kind, name: str) -> Pointer:
    return Pointer(kind.namespace, kind.type, name)


class ModulesController:
    name = CONTROLLER
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs = (Output(STATUSES), Output(ORIGINALS))
    watched_paths: tuple[Path, ...] = ()  # /proc/modules announces nothing: resync only

    def __init__(
        self, driver: ModuleDriver, resync_seconds: float | None = DEFAULT_RESYNC_SECONDS
    ) -> None:
        self._driver = driver
        self.resync_seconds = resync_seconds

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        spec = from_spec(KernelModuleSpec, item.spec)
        try:
            resolution = await self._driver.resolve(spec.name)
        except ModuleError:
            await self._report(writer, spec.name, None, await self._driver.inspect(spec.name))
            raise
        info = await self._driver.inspect(resolution.module)
        originals = await self._remember(resolution, info, writer)
        loaded_by_cosid = not originals[resolution.module].loaded
        if info.present:
            await self._report(writer, spec.name, resolution, info, loaded_by_cosid)
            return Outcome.UNCHANGED
        previous = await writer.get(_pointer(STATUSES, spec.name))
        try:
            await self._driver.load(resolution, spec.parameters)
        except ModuleError:
            await self._report(writer, spec.name, resolution, info)
            raise
        info = await self._driver.inspect(resolution.module)
        await self._report(writer, spec.name, resolution, info, loaded_by_cosid=True)
        drifted = previous is not None and _showed_present(previous, resolution.module)
        return Outcome.REPAIRED if drifted else Outcome.APPLIED

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        spec = from_spec(KernelModuleSpec, item.spec)
        try:
            resolution = await self._driver.resolve(spec.name)
        except ModuleError:
            resolution = Resolution(spec.name)  # nothing resolved, so nothing else was loaded
        needed = await self._needed_by_others(item, writer)
        for module in reversed(resolution.load_order):
            if module in needed:
                continue  # another spec's: its teardown decides
            remembered = await writer.get(_pointer(ORIGINALS, module))
            if (
                remembered is not None
                and not from_spec(KernelModuleOriginal, remembered.spec).loaded
            ):
                try:
                    await self._driver.unload(module)
                except ModuleInUseError:
                    if module == resolution.module:
                        raise  # the spec's own module: wait until it is free
                    # a dependency something else uses: it stays, as with modprobe -r
            await writer.destroy(_pointer(ORIGINALS, module))
        await writer.destroy(_pointer(STATUSES, spec.name))

    async def _remember(
        self, resolution: Resolution, info: ModuleInfo, writer: OutputWriter
    ) -> dict[str, KernelModuleOriginal]:
        """Whether each module of the resolution was loaded before cosid loaded it, recorded
        before anything is loaded, and rewritten for a module that is absent now."""
        originals: dict[str, KernelModuleOriginal] = {}
        for module in resolution.load_order:
            if module == resolution.module:
                present = info.present
            else:
                present = (await self._driver.inspect(module)).present
            pointer = _pointer(ORIGINALS, module)
            remembered = await writer.get(pointer)
            original = (
                from_spec(KernelModuleOriginal, remembered.spec) if remembered is not None else None
            )
            if original is None or (original.loaded and not present):
                original = KernelModuleOriginal(name=module, loaded=present)
                await writer.put(pointer, to_spec(original))
            originals[module] = original
        return originals

    async def _needed_by_others(self, item: Resource, writer: OutputWriter) -> set[str]:
        """The modules the other specs still want: each one's module and dependencies."""
        needed: set[str] = set()
        for other in await writer.list(SPECS):
            if other.metadata.id == item.metadata.id or other.metadata.phase != Phase.RUNNING:
                continue
            name = from_spec(KernelModuleSpec, other.spec).name
            try:
                needed.update((await self._driver.resolve(name)).load_order)
            except ModuleError:
                needed.add(name)
        return needed

    @staticmethod
    async def _report(
        writer: OutputWriter,
        name: str,
        resolution: Resolution | None,
        info: ModuleInfo,
        loaded_by_cosid: bool = False,
    ) -> None:
        status = KernelModuleStatus(
            name=name,
            module=resolution.module if resolution else None,
            state=info.state,
            refcount=info.refcount,
            holders=info.holders,
            parameters=dict(info.parameters),
            dependencies=resolution.load_order[:-1] if resolution else (),
            file=resolution.file if resolution else None,
            loaded_by_cosid=loaded_by_cosid and info.present,
        )
        await writer.put(_pointer(STATUSES, name), to_spec(status))


def _showed_present(status: Resource, module: str) -> bool:
    """Whether a status written earlier showed the kernel holding `module` (so its absence now
    is drift, not a new spec)."""
    shown = from_spec(KernelModuleStatus, status.spec)
    return shown.module == module and shown.state in PRESENT_STATES
