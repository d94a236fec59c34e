"""Boot-file controllers: keep files that make a domain's specs hold early at boot, before cosid
starts, holding every spec (sysctl-persist: the sysctl.d file; modules-persist: modules-load.d
and modprobe.d), when the config's `persist` asks for it.

Reads: the domain's specs (strong: each spec carries this controller's finalizer, so deleting
one returns only once it is out of the files). Writes: no resource, the files (`BootFile`).
The files are one set for all specs, so every reconcile and teardown rewrites them whole from
the specs this controller answers for: running ones that carry its finalizer (a spec being
torn down is left out; a spec not yet seen is added by its own reconcile). Whichever item
writes first writes for all; the others then find the files right. The files are watched
paths: an edit is repaired as soon as inotify reports it.

With persistence off there is no controller (each would be an item per spec, a third of a
sysctl Apply's cost) but a `Retirement` at start-up: the files go, what cosid no longer
answers for must not come back at the next boot, and the finalizers an earlier run with
persistence on left on the specs go too, so turning it off never blocks a delete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import structlog
from pydantic import BaseModel

from cosid.resources.document import from_spec
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Phase, Resource
from cosid.state.state import State

log = structlog.get_logger("cosid.controllers")

Spec = TypeVar("Spec", bound=BaseModel)
_Spec_contra = TypeVar("_Spec_contra", bound=BaseModel, contravariant=True)


class BootFile(Protocol[_Spec_contra]):
    """The files one domain's specs are kept in for the boot (under the root prefix)."""

    @property
    def paths(self) -> tuple[Path, ...]:
        """The files, for the runtime's inotify watch (an edit is drift)."""
        ...

    def hold(self, specs: Sequence[_Spec_contra]) -> bool:
        """Make the files hold exactly `specs` (none: no files); True if that changed them.
        Blocks on fsync: the controller calls it in a thread."""
        ...


class BootFilesController(Generic[Spec]):
    """Keeps `file` holding every spec of the kind `specs` (of the model `model`)."""

    outputs: tuple[Output, ...] = ()

    def __init__(
        self,
        name: str,
        specs: Kind,
        model: type[Spec],
        file: BootFile[Spec],
        resync_seconds: float | None,
    ) -> None:
        self.name = name
        self.inputs = (Input(specs, Strength.STRONG),)
        self.resync_seconds = resync_seconds
        self.watched_paths = file.paths
        self._specs = specs
        self._model = model
        self._file = file
        self._rewriting = asyncio.Lock()
        """Held from listing the specs to writing them: a write never undoes a later one."""
        self._asked = 0
        """Rewrites asked for so far (a ticket per reconcile or teardown)."""
        self._written_for = 0
        """The last ticket a write started after (and so serves)."""
        self._written: tuple[Spec, ...] | None = None
        """The specs this controller last made the files hold (None: none since it started),
        so a rewrite of the same specs is known to be a repair."""

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        return await self._rewrite(writer)

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        await self._rewrite(writer)

    async def _rewrite(self, writer: OutputWriter) -> Outcome:
        """Make the files hold the specs this controller answers for. Items that ask while a
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
        """One write of the whole set of files. A change is a repair when the specs are the
        ones it last wrote: someone else changed the files since."""
        specs = tuple(
            from_spec(self._model, resource.spec)
            for resource in await writer.list(self._specs)
            if self._answers_for(resource)
        )
        changed = await asyncio.to_thread(self._file.hold, specs)  # fsyncs: off the event loop
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


@dataclass(frozen=True)
class Retirement:
    """A boot-file controller that is off: its name (the finalizer it may have left), the
    specs it served, and its files."""

    name: str
    specs: Kind
    file: BootFile[Any]

    async def carry_out(self, state: State) -> None:
        """Remove the files and this controller's finalizers (before the runtime starts). A
        file that cannot be removed is logged, not fatal: the daemon still serves."""
        try:
            await asyncio.to_thread(self.file.hold, ())
        except OSError as error:
            log.warning(
                "cannot remove the boot files of a controller that is off",
                controller=self.name,
                paths=[str(path) for path in self.file.paths],
                error=str(error),
            )
        for resource in await state.list(self.specs):
            if self.name in resource.metadata.finalizers:
                await state.remove_finalizer(resource.pointer, self.name)
