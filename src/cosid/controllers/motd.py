"""MOTD: writes the MotdSpec's text to /etc/motd, remembers what the file held first, and puts
that back when the spec is deleted (removing the file if there was none).

Reads: MotdSpecs (strong; one resource, id ``motd``). Writes: MotdStatuses (what the file
holds) and MotdOriginals (durable, so a restart still restores the right content). The file is
a watched path: the runtime repairs an edit as soon as inotify reports it; the resync remains
for what inotify cannot see (a directory that came back, a lost watch).
"""

from __future__ import annotations

from pathlib import Path

from cosid.drivers.motd import MotdDriver, MotdError, MotdFile
from cosid.resources.document import from_spec, to_spec
from cosid.resources.files import digest
from cosid.resources.motd import (
    CONTROLLER,
    MOTD_ID,
    ORIGINALS,
    SPECS,
    STATUSES,
    MotdOriginal,
    MotdSpec,
    MotdStatus,
    parse_id,
)
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Pointer, Resource

DEFAULT_RESYNC_SECONDS = 60.0


def _pointer(kind: Kind) -> Pointer:
    return Pointer(kind.namespace, kind.type, MOTD_ID)


class MotdController:
    name = CONTROLLER
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs = (Output(STATUSES), Output(ORIGINALS))

    def __init__(
        self, driver: MotdDriver, resync_seconds: float | None = DEFAULT_RESYNC_SECONDS
    ) -> None:
        self._driver = driver
        self.resync_seconds = resync_seconds
        self.watched_paths: tuple[Path, ...] = driver.watched_paths

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        try:
            parse_id(item.metadata.id)
        except ValueError as error:
            raise ValueError(f"the MOTD id {error}") from None
        spec = from_spec(MotdSpec, item.spec)
        current = await self._driver.read()
        original = await self._remember(current, writer)
        if current is not None and current.content == spec.content:
            await self._report(writer, current, original)
            return Outcome.UNCHANGED
        previous = await writer.get(_pointer(STATUSES))
        try:
            await self._driver.write(spec.content)
        except MotdError:
            await self._report(writer, current, original)
            raise
        await self._report(writer, await self._driver.read(), original)
        drifted = previous is not None and _showed(previous, spec.content)
        return Outcome.REPAIRED if drifted else Outcome.APPLIED

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        if item.metadata.id != MOTD_ID:
            return  # refused by reconcile: nothing was written
        remembered = await writer.get(_pointer(ORIGINALS))
        if remembered is not None:
            original = from_spec(MotdOriginal, remembered.spec)
            if not original.exists:
                await self._driver.remove()
            else:
                current = await self._driver.read()
                if current is None or current.content != original.content:
                    await self._driver.write(original.content)
        await writer.destroy(_pointer(STATUSES))
        await writer.destroy(_pointer(ORIGINALS))

    async def _remember(self, current: MotdFile | None, writer: OutputWriter) -> MotdOriginal:
        """What the file held before cosid first wrote it (no file included), recorded the
        first time it is seen."""
        remembered = await writer.get(_pointer(ORIGINALS))
        if remembered is not None:
            return from_spec(MotdOriginal, remembered.spec)
        original = MotdOriginal(
            exists=current is not None, content=current.content if current else b""
        )
        await writer.put(_pointer(ORIGINALS), to_spec(original))
        return original

    @staticmethod
    async def _report(writer: OutputWriter, file: MotdFile | None, original: MotdOriginal) -> None:
        if file is None:
            status = MotdStatus(exists=False, original_sha256=original.sha256)
        else:
            status = MotdStatus(
                exists=True,
                sha256=file.sha256,
                size=file.size,
                mode=file.mode,
                uid=file.uid,
                gid=file.gid,
                original_sha256=original.sha256,
            )
        await writer.put(_pointer(STATUSES), to_spec(status))


def _showed(status: Resource, content: bytes) -> bool:
    """Whether a status written earlier showed the file holding `content` (so a difference now
    is drift, not a new spec)."""
    return from_spec(MotdStatus, status.spec).sha256 == digest(content)
