"""dns: writes the ResolverSpec to /etc/resolv.conf, remembers what was there first (a file, a
symlink, or nothing), and puts exactly that back when the spec is deleted.

Reads: ResolverSpecs (strong; one spec, id ``resolver``). Writes: ResolverStatuses (what the
file is and says, read back) and ResolverOriginals (durable, so a restart still restores the
right thing). /etc/resolv.conf is a watched path: an edit, a removal or a symlink put there is
repaired as soon as inotify reports it. Written through a symlink (``symlink: follow``), the
file is elsewhere (under /run, usually), where the watch does not reach: an edit there is found
by the resync. With the resolved driver, the file is systemd-resolved's drop-in, and the
status says what resolved uses (`ResolvConf.effective`).
"""

from __future__ import annotations

from pathlib import Path

from cosid.drivers.dns import DnsDriver, DnsError, ResolvConf
from cosid.resources.dns import (
    CONTROLLER,
    FILE_MODE,
    ORIGINALS,
    RESOLVER_ID,
    SPECS,
    STATUSES,
    ResolverConfig,
    ResolverOriginal,
    ResolverSpec,
    ResolverStatus,
    file_content,
    read_back,
)
from cosid.resources.document import from_spec, to_spec
from cosid.resources.files import digest
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Pointer, Resource

DEFAULT_RESYNC_SECONDS = 60.0


class ResolverIdError(ValueError):
    """A spec stored under another id than ``resolver``: a node has one resolver
    configuration."""


def _pointer(kind: Kind) -> Pointer:
    return Pointer(kind.namespace, kind.type, RESOLVER_ID)


class DnsController:
    name = CONTROLLER
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs = (Output(STATUSES), Output(ORIGINALS))

    def __init__(
        self, driver: DnsDriver, resync_seconds: float | None = DEFAULT_RESYNC_SECONDS
    ) -> None:
        self._driver = driver
        self.resync_seconds = resync_seconds
        self.watched_paths: tuple[Path, ...] = driver.watched_paths

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        content = file_content(_spec_of(item))
        found = await self._driver.read()
        original = await self._remember(found, writer)
        if self._driver.holds(found, content):
            await self._report(writer, found, original)
            return Outcome.UNCHANGED
        previous = await writer.get(_pointer(STATUSES))
        try:
            await self._driver.write(content)
        except DnsError:
            await self._report(writer, found, original)
            raise
        await self._report(writer, await self._driver.read(), original)
        drifted = previous is not None and _showed(previous, content)
        return Outcome.REPAIRED if drifted else Outcome.APPLIED

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        if item.metadata.id != RESOLVER_ID:
            return  # refused by reconcile: never acted on
        remembered = await writer.get(_pointer(ORIGINALS))
        if remembered is not None:
            original = from_spec(ResolverOriginal, remembered.spec)
            content = original.content if original.exists else None
            await self._driver.restore(original.symlink, content, original.mode)
        await writer.destroy(_pointer(STATUSES))
        await writer.destroy(_pointer(ORIGINALS))

    async def _remember(self, found: ResolvConf, writer: OutputWriter) -> ResolverOriginal:
        """What /etc/resolv.conf was before cosid first wrote it, recorded the first time it is
        seen."""
        remembered = await writer.get(_pointer(ORIGINALS))
        if remembered is not None:
            return from_spec(ResolverOriginal, remembered.spec)
        file = found.file
        original = ResolverOriginal(
            symlink=found.symlink,
            exists=file is not None,
            content=file.content if file else b"",
            mode=file.mode if file else FILE_MODE,
        )
        await writer.put(_pointer(ORIGINALS), to_spec(original))
        return original

    async def _report(
        self, writer: OutputWriter, found: ResolvConf, original: ResolverOriginal
    ) -> None:
        file = found.file
        said = found.effective or (read_back(file.content) if file else ResolverConfig())
        status = ResolverStatus(
            path=self._driver.path,
            symlink=found.symlink,
            file=file.path if file else None,
            nameservers=said.nameservers,
            search=said.search,
            options=said.options,
            sha256=file.sha256 if file else None,
            mode=file.mode if file else None,
            original_symlink=original.symlink,
            original_sha256=original.sha256,
        )
        await writer.put(_pointer(STATUSES), to_spec(status))


def _spec_of(item: Resource) -> ResolverSpec:
    if item.metadata.id != RESOLVER_ID:
        raise ResolverIdError(
            f"a node has one resolver configuration: its spec's id is {RESOLVER_ID!r}, "
            f"not {item.metadata.id!r}"
        )
    return from_spec(ResolverSpec, item.spec)


def _showed(status: Resource, content: bytes) -> bool:
    """Whether a status written earlier showed the file holding `content` (so a difference now
    is drift, not a new spec)."""
    return from_spec(ResolverStatus, status.spec).sha256 == digest(content)
