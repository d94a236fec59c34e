"""mounts: mounts each MountSpec's file system at its target, keeps it as the spec says, and
unmounts it (removing the directories cosid created for it) when the spec is deleted.

Reads: MountSpecs (strong). Writes: MountStatuses (the mount table's entry at the target) and
MountOriginals (durable: the directories cosid created, so deleting the spec removes them even
after a restart).

Which mount is cosid's: the one visible at the target when it is the spec's file system and
source (`Fit.SAME` or `ADJUSTABLE`; one found there already is adopted); when the spec changed
to another file system, also the one the last status showed matching the old spec (same mount
id, source and type), which is unmounted before the new one is mounted rather than left
underneath. Anything else at the target is someone else's: the spec's mount goes on top of
it, and deleting the spec leaves it.

Nested targets: a target inside another spec's target is mounted only once that one is
(reason ``WaitingForParent`` meanwhile), so that it goes inside the outer mount instead of
on the directory underneath, where the outer mount would hide it.

Drift: the kernel announces every change of the mount table (POLLPRI on mountinfo).
`changes()` yields on each, and the runtime reconciles every item then (`AnnouncesChanges`).
The resync finds the rest (a tmpfs's mode changed by chmod announces nothing).
"""

from __future__ import annotations

from pathlib import Path

from cosid.drivers.mounts import (
    Fit,
    MountDeniedError,
    MountDriver,
    MountEntry,
    MountError,
    MountNotAppliedError,
    TableChanges,
)
from cosid.resources.document import from_spec, to_spec
from cosid.resources.mounts import (
    CONTROLLER,
    ORIGINALS,
    SPECS,
    STATUSES,
    MountOriginal,
    MountSpec,
    MountStatus,
)
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Phase, Pointer, Resource

DEFAULT_RESYNC_SECONDS = 60.0

_KERNEL_VIEW = {"matches", "created_from"}
"""Status fields that are cosid's judgement or memory, not what the kernel shows."""


class MountWaitingError(MountError):
    """The target is inside another spec's target, which is not mounted yet."""

    reason = "WaitingForParent"


def _pointer(kind: Kind, target: str) -> Pointer:
    return Pointer(kind.namespace, kind.type, target)


class MountsController:
    name = CONTROLLER
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs = (Output(STATUSES), Output(ORIGINALS))
    watched_paths: tuple[Path, ...] = ()  # the mount table is not a file: see `changes`

    def __init__(
        self,
        driver: MountDriver,
        resync_seconds: float | None = DEFAULT_RESYNC_SECONDS,
        *,
        lazy_unmount: bool = False,
    ) -> None:
        self._driver = driver
        self.resync_seconds = resync_seconds
        self._lazy_unmount = lazy_unmount

    def changes(self) -> TableChanges:
        """The mount table's changes, watched from this call on (`AnnouncesChanges`: the
        runtime reconciles every item on each)."""
        return self._driver.changes()

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        spec = from_spec(MountSpec, item.spec)
        self._driver.check(spec.target)
        previous = await writer.get(_pointer(STATUSES, spec.target))
        entry = await self._driver.find(spec.target)
        fit = await self._driver.fit(spec, entry)
        before = await self._status(writer, spec, entry, fit)
        if fit is Fit.SAME:
            await writer.put(_pointer(STATUSES, spec.target), to_spec(before))
            return Outcome.UNCHANGED
        try:
            await self._apply(spec, entry, fit, previous, writer)
        finally:
            after = await self._observe(writer, spec)
        if not after.matches:
            raise MountNotAppliedError(spec.target, f"the kernel shows {_describe(after)}")
        drifted = previous is not None and _showed_then_changed(previous, before)
        return Outcome.REPAIRED if drifted else Outcome.APPLIED

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        spec = from_spec(MountSpec, item.spec)
        try:
            self._driver.check(spec.target)
        except MountDeniedError:
            pass  # refused by reconcile: cosid changed nothing there
        else:
            entry = await self._driver.find(spec.target)
            if entry is not None and await self._driver.fit(spec, entry) is not Fit.OTHER:
                await self._driver.unmount(spec.target, detach_busy=self._lazy_unmount)
            original = await self._original(writer, spec.target)
            if original is not None:
                await self._driver.remove_directories(spec.target, original.created_from)
        await writer.destroy(_pointer(STATUSES, spec.target))
        await writer.destroy(_pointer(ORIGINALS, spec.target))

    async def _apply(
        self,
        spec: MountSpec,
        entry: MountEntry | None,
        fit: Fit,
        previous: Resource | None,
        writer: OutputWriter,
    ) -> None:
        """Make the target hold the spec's mount: in place when only flags, size or mode
        differ; otherwise a new mount, after unmounting cosid's own mount of an older spec."""
        if fit is Fit.ADJUSTABLE:
            await self._driver.reconfigure(spec)
            return
        await self._check_parents(spec.target, writer)
        if entry is not None and previous is not None and _was_cosids(previous, entry):
            await self._driver.unmount(spec.target, detach_busy=self._lazy_unmount)
        if spec.mkdir:
            await self._make_directories(spec.target, writer)
        await self._driver.mount(spec)
        mounted = await self._driver.find(spec.target)
        if await self._driver.fit(spec, mounted) is Fit.OTHER:
            # Unrecognisable as the spec's: undone, or the next attempt would stack another.
            await self._driver.unmount(spec.target, detach_busy=True)
            raise MountNotAppliedError(
                spec.target, "the kernel shows the new mount unlike the spec; it was undone"
            )

    async def _check_parents(self, target: str, writer: OutputWriter) -> None:
        """Raise MountWaitingError while another spec's target above this one is not mounted:
        mounted first, this mount would end up hidden under that one. (A denied target above
        is never mounted, and one being deleted is going: neither is waited for.)"""
        for other in await writer.list(SPECS):
            above = other.metadata.id
            if not target.startswith(f"{above.rstrip('/')}/") or target == above:
                continue
            if other.metadata.phase != Phase.RUNNING or self._denied(above):
                continue
            status = await writer.get(_pointer(STATUSES, above))
            if status is None or not from_spec(MountStatus, status.spec).matches:
                raise MountWaitingError(target, f"waits for {above} to be mounted first")

    def _denied(self, target: str) -> bool:
        try:
            self._driver.check(target)
        except MountDeniedError:
            return True
        return False

    async def _make_directories(self, target: str, writer: OutputWriter) -> None:
        """Create the missing directories, recording them first: a crash in between leaves a
        record of directories that may not exist, never directories without a record."""
        missing = await self._driver.missing(target)
        if missing is None:
            return
        original = await self._original(writer, target)
        if original is None or len(missing) < len(original.created_from):
            record = MountOriginal(target=target, created_from=missing)
            await writer.put(_pointer(ORIGINALS, target), to_spec(record))
        await self._driver.make_directories(target)

    @staticmethod
    async def _original(writer: OutputWriter, target: str) -> MountOriginal | None:
        remembered = await writer.get(_pointer(ORIGINALS, target))
        return None if remembered is None else from_spec(MountOriginal, remembered.spec)

    async def _observe(self, writer: OutputWriter, spec: MountSpec) -> MountStatus:
        """The status now, reported."""
        entry = await self._driver.find(spec.target)
        status = await self._status(writer, spec, entry, await self._driver.fit(spec, entry))
        await writer.put(_pointer(STATUSES, spec.target), to_spec(status))
        return status

    async def _status(
        self, writer: OutputWriter, spec: MountSpec, entry: MountEntry | None, fit: Fit
    ) -> MountStatus:
        original = await self._original(writer, spec.target)
        created_from = None if original is None else original.created_from
        if entry is None:
            return MountStatus(target=spec.target, mounted=False, created_from=created_from)
        return MountStatus(
            target=spec.target,
            mounted=True,
            matches=fit is Fit.SAME,
            mount_id=entry.mount_id,
            parent_id=entry.parent_id,
            source=entry.source,
            fstype=entry.fstype,
            root=entry.root,
            mount_options=list(entry.mount_options),
            super_options=list(entry.super_options),
            created_from=created_from,
        )


def _was_cosids(previous: Resource, entry: MountEntry) -> bool:
    """Whether `entry` is the mount the last status showed matching a spec (an older one)."""
    status = from_spec(MountStatus, previous.spec)
    return (
        status.matches
        and status.mount_id == entry.mount_id
        and (status.source, status.fstype) == (entry.source, entry.fstype)
    )


def _showed_then_changed(previous: Resource, before: MountStatus) -> bool:
    """Whether the last status showed the spec's mount and the kernel changed since (drift),
    rather than the spec (a new spec finds the kernel as the last status left it)."""
    status = from_spec(MountStatus, previous.spec)
    return status.matches and status.model_dump(exclude=_KERNEL_VIEW) != before.model_dump(
        exclude=_KERNEL_VIEW
    )


def _describe(status: MountStatus) -> str:
    if not status.mounted:
        return "nothing mounted there"
    return f"{status.fstype} from {status.source} ({','.join(status.mount_options)})"
