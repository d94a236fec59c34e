"""hostname: sets the HostnameSpec's names in the kernel and /etc/hostname, remembers what it
found first, restores it on delete.

Reads: HostnameSpecs (strong; one spec, id ``hostname``). Writes: HostnameStatuses (what the
kernel and the file hold) and HostnameOriginals (durable, so a restart still restores the right
names). The kernel does not announce a new hostname, so drift there is found by the runtime's
resync; /etc/hostname is a watched path, so an edit of the file is repaired at once.
"""

from __future__ import annotations

from pathlib import Path

from cosid.drivers.hostname import HostnameDriver, HostnameState, HostnameWriteError
from cosid.resources.document import from_spec, to_spec
from cosid.resources.hostname import (
    CONTROLLER,
    HOSTNAME_ID,
    ORIGINALS,
    SPECS,
    STATUSES,
    HostnameOriginal,
    HostnameSpec,
    HostnameStatus,
    file_content,
)
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Pointer, Resource

DEFAULT_RESYNC_SECONDS = 60.0


class HostnameIdError(ValueError):
    """A spec stored under another id than ``hostname``: a node has one hostname."""


def _pointer(kind: Kind) -> Pointer:
    return Pointer(kind.namespace, kind.type, HOSTNAME_ID)


class HostnameController:
    name = CONTROLLER
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs = (Output(STATUSES), Output(ORIGINALS))

    def __init__(
        self, driver: HostnameDriver, resync_seconds: float | None = DEFAULT_RESYNC_SECONDS
    ) -> None:
        self._driver = driver
        self.resync_seconds = resync_seconds
        self.watched_paths: tuple[Path, ...] = driver.watched_paths

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        spec = _spec_of(item)
        current = await self._driver.read()
        await self._remember(current, writer)
        if _holds(current, spec):
            await self._report(writer, current)
            return Outcome.UNCHANGED
        previous = await writer.get(_pointer(STATUSES))
        try:
            await self._driver.write(spec.hostname, spec.domain)
        except HostnameWriteError:
            await self._report(writer, await self._driver.read())
            raise
        await self._report(writer, await self._driver.read())
        drifted = previous is not None and _holds(_state(previous), spec)
        return Outcome.REPAIRED if drifted else Outcome.APPLIED

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        if item.metadata.id != HOSTNAME_ID:
            return  # refused by reconcile: never acted on
        spec = from_spec(HostnameSpec, item.spec)
        remembered = await writer.get(_pointer(ORIGINALS))
        if remembered is not None:
            original = from_spec(HostnameOriginal, remembered.spec)
            domain = original.domain if spec.domain is not None else None
            await self._driver.write(original.hostname, domain)
            await self._driver.write_file(original.file)
        await writer.destroy(_pointer(STATUSES))
        await writer.destroy(_pointer(ORIGINALS))

    async def _remember(self, current: HostnameState, writer: OutputWriter) -> None:
        """Record what the kernel and the file held the first time cosid sees them."""
        if await writer.get(_pointer(ORIGINALS)) is None:
            original = HostnameOriginal(
                hostname=current.hostname, domain=current.domain, file=current.file
            )
            await writer.put(_pointer(ORIGINALS), to_spec(original))

    @staticmethod
    async def _report(writer: OutputWriter, state: HostnameState) -> None:
        status = HostnameStatus(hostname=state.hostname, domain=state.domain, file=state.file)
        await writer.put(_pointer(STATUSES), to_spec(status))


def _spec_of(item: Resource) -> HostnameSpec:
    if item.metadata.id != HOSTNAME_ID:
        raise HostnameIdError(
            f"a node has one hostname: its spec's id is {HOSTNAME_ID!r}, not {item.metadata.id!r}"
        )
    return from_spec(HostnameSpec, item.spec)


def _holds(state: HostnameState, spec: HostnameSpec) -> bool:
    """Whether the kernel and the file hold the spec's names, byte for byte."""
    return (
        state.hostname == spec.hostname
        and (spec.domain is None or state.domain == spec.domain)
        and state.file == file_content(spec.hostname)
    )


def _state(status: Resource) -> HostnameState:
    """What a status written earlier showed."""
    shown = from_spec(HostnameStatus, status.spec)
    return HostnameState(hostname=shown.hostname, domain=shown.domain, file=shown.file)
