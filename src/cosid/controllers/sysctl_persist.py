"""sysctl-persist: keeps the sysctl.d file holding every sysctl spec, so the values hold early
at boot, before cosid starts (the config's `domains.sysctl.persist`). With persistence off it
keeps the file absent instead: values cosid no longer answers for must not come back at the
next boot, and the specs' finalizers stay served, so turning it off never blocks a delete.

Reads: SysctlSpecs (strong: each spec carries this controller's finalizer, so deleting one
returns only once its line is gone). Writes: no resource, one file (`SysctlDFile`). The file is
one for all specs, so every reconcile and teardown rewrites it whole from the specs this
controller answers for: running ones that carry its finalizer (a spec being torn down is left
out; a spec not yet seen is added by its own reconcile). Whichever item writes first writes for
all; the others then find the file right. The file is a watched path: an edit is repaired as
soon as inotify reports it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from cosid.controllers.sysctl import DEFAULT_RESYNC_SECONDS
from cosid.drivers.sysctl.persist import SysctlDFile
from cosid.resources.document import from_spec
from cosid.resources.sysctl import SPECS, SysctlSpec
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Phase, Resource


class SysctlPersistController:
    name = "sysctl-persist"
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs: tuple[Output, ...] = ()

    def __init__(
        self,
        file: SysctlDFile,
        resync_seconds: float | None = DEFAULT_RESYNC_SECONDS,
        *,
        enabled: bool = True,
    ) -> None:
        self._file = file
        self._enabled = enabled
        self.resync_seconds = resync_seconds
        self.watched_paths: tuple[Path, ...] = (file.path,)
        self._rewriting = asyncio.Lock()
        """Held from listing the specs to writing them: a write never undoes a later one."""
        self._asked = 0
        """Rewrites asked for so far (a ticket per reconcile or teardown)."""
        self._written_for = 0
        """The last ticket a write started after (and so serves)."""
        self._written: tuple[SysctlSpec, ...] | None = None
        """The specs this controller last made the file hold (None: none since it started),
        so a rewrite of the same specs is known to be a repair."""

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        return await self._rewrite(writer)

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        await self._rewrite(writer)

    async def _rewrite(self, writer: OutputWriter) -> Outcome:
        """Make the file hold the specs this controller answers for. Items that ask while a
        write runs share the next one (200 specs applied at once cost a few writes, not 200
        fsyncs); each caller's write starts after it asked, so it sees the caller's spec. What
        the write did is the writer's outcome (one repair per edit, not one per spec)."""
        self._asked += 1
        ticket = self._asked
        async with self._rewriting:
            if self._written_for >= ticket:
                return Outcome.UNCHANGED  # another item's write served this one
            self._written_for = self._asked
            return await self._write(writer)

    async def _write(self, writer: OutputWriter) -> Outcome:
        """One write of the whole file. A change is a repair when the specs are the ones it
        last wrote: someone else changed the file since."""
        if not self._enabled and not self._file.path.exists():
            return Outcome.UNCHANGED  # the common case when off: nothing to remove
        specs = tuple(
            from_spec(SysctlSpec, resource.spec)
            for resource in (await writer.list(SPECS) if self._enabled else ())
            if self._answers_for(resource)
        )
        changed = await asyncio.to_thread(  # fsyncs: off the event loop
            self._file.write,
            {spec.key: spec.value for spec in specs},
            ignore_errors=[spec.key for spec in specs if spec.ignore_errors],
        )
        repaired = specs == self._written
        self._written = specs
        if not changed:
            return Outcome.UNCHANGED
        return Outcome.REPAIRED if repaired else Outcome.APPLIED

    def _answers_for(self, resource: Resource) -> bool:
        """Running and carrying this controller's finalizer: a spec it will be asked to tear
        down, so a line written for it is never left behind."""
        metadata = resource.metadata
        return metadata.phase == Phase.RUNNING and self.name in metadata.finalizers
