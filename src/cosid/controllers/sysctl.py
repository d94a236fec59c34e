"""sysctl: sets each SysctlSpec's key, remembers the value found first, restores it on delete.

Reads: SysctlSpecs (strong). Writes: SysctlStatuses (what the kernel has) and SysctlOriginals
(durable, so a restart still restores the right value). The kernel does not announce sysctl
changes, so drift is found by the runtime's resync.
"""

from __future__ import annotations

from pathlib import Path

from cosid.drivers.sysctl import SysctlDriver, SysctlNotSupportedError, SysctlWriteError
from cosid.resources.document import from_spec, to_spec
from cosid.resources.sysctl import (
    CONTROLLER,
    ORIGINALS,
    SPECS,
    STATUSES,
    SysctlOriginal,
    SysctlSpec,
    SysctlStatus,
    values_match,
)
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Pointer, Resource

DEFAULT_RESYNC_SECONDS = 60.0


def _pointer(kind: Kind, key: str) -> Pointer:
    return Pointer(kind.namespace, kind.type, key)


class SysctlController:
    name = CONTROLLER
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs = (Output(STATUSES), Output(ORIGINALS))
    watched_paths: tuple[Path, ...] = ()  # /proc/sys announces nothing: resync only

    def __init__(
        self, driver: SysctlDriver, resync_seconds: float | None = DEFAULT_RESYNC_SECONDS
    ) -> None:
        self._driver = driver
        self.resync_seconds = resync_seconds

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        spec = from_spec(SysctlSpec, item.spec)
        current = await self._driver.read(spec.key)
        original = await self._remember(spec.key, current, writer)
        if current is not None and values_match(spec.value, current):
            await self._report(
                writer,
                SysctlStatus(key=spec.key, supported=True, current=current, original=original),
            )
            return Outcome.UNCHANGED
        previous = await writer.get(_pointer(STATUSES, spec.key))
        try:
            if current is None:
                raise SysctlNotSupportedError(spec.key, "not supported by this kernel")
            await self._driver.write(spec.key, spec.value)
        except SysctlWriteError:
            await self._report(
                writer,
                SysctlStatus(
                    key=spec.key, supported=current is not None, current=current, original=original
                ),
            )
            if spec.ignore_errors:
                return Outcome.UNCHANGED
            raise
        now = await self._driver.read(spec.key)
        await self._report(
            writer, SysctlStatus(key=spec.key, supported=True, current=now, original=original)
        )
        drifted = previous is not None and _showed(previous, spec.value)
        return Outcome.REPAIRED if drifted else Outcome.APPLIED

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        spec = from_spec(SysctlSpec, item.spec)
        remembered = await writer.get(_pointer(ORIGINALS, spec.key))
        if remembered is not None:
            original = from_spec(SysctlOriginal, remembered.spec)
            current = await self._driver.read(spec.key)
            try:
                if current is None or not values_match(original.value, current):
                    await self._driver.write(spec.key, original.value)
            except SysctlWriteError:
                if not spec.ignore_errors:
                    raise
        await writer.destroy(_pointer(STATUSES, spec.key))
        await writer.destroy(_pointer(ORIGINALS, spec.key))

    async def _remember(self, key: str, current: str | None, writer: OutputWriter) -> str | None:
        """The value found before cosid first wrote `key`, recorded the first time it is seen."""
        remembered = await writer.get(_pointer(ORIGINALS, key))
        if remembered is not None:
            return from_spec(SysctlOriginal, remembered.spec).value
        if current is not None:
            await writer.put(
                _pointer(ORIGINALS, key), to_spec(SysctlOriginal(key=key, value=current))
            )
        return current

    @staticmethod
    async def _report(writer: OutputWriter, status: SysctlStatus) -> None:
        await writer.put(_pointer(STATUSES, status.key), to_spec(status))


def _showed(status: Resource, value: str) -> bool:
    """Whether a status written earlier showed the kernel holding `value` (so a difference now
    is drift, not a new spec)."""
    current = from_spec(SysctlStatus, status.spec).current
    return current is not None and values_match(value, current)
