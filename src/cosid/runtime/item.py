"""One item of one controller: a task that reconciles it whenever it is poked, one at a time.

Pokes coalesce (ten events while a reconcile runs mean one more reconcile, of the latest
version), a failure waits its backoff unless a new event comes first, and one item's slowness
or failures never delay another's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from cosid.resources.document import to_spec
from cosid.runtime.backoff import Backoff
from cosid.runtime.conditions import Condition, Reason, condition_pointer, is_waiting
from cosid.runtime.controller import Controller, Outcome
from cosid.runtime.metrics import ControllerMetrics
from cosid.runtime.writer import OutputWriter
from cosid.state.errors import NotFoundError, PhaseConflictError, VersionConflictError
from cosid.state.resource import Phase, Pointer, Resource
from cosid.state.state import State

log = structlog.get_logger("cosid.runtime")


@dataclass(frozen=True, slots=True)
class ItemContext:
    """What every item of a controller shares."""

    state: State
    controller: Controller
    writer: OutputWriter
    conditions: OutputWriter
    metrics: ControllerMetrics
    backoff: Backoff
    observed: Callable[[], Awaitable[None]]
    """Returns once the observers wrote what the system announced so far: a condition says
    Reconciled only then, so the statuses a waiting client reads show the change."""
    waiting: set[Item]
    """The items whose last attempt failed for want of something else (a Waiting... reason):
    any change notice retries them at once instead of after their backoff. Kept as a set, so
    a notice costs what waits, not what the controller has."""


class Item:
    def __init__(self, context: ItemContext, pointer: Pointer) -> None:
        self._context = context
        self.pointer = pointer
        self._poked = asyncio.Event()
        self._forced = False
        """A poke that must reconcile even a version already reconciled (drift may hide there)."""
        self._changed = False
        """The item itself changed since the last failure: that, not drift, ends a backoff."""
        self._observed_version = 0
        self._observed: Resource | None = None
        """The resource as last reconciled successfully: what a later version is compared to
        (one differing only in others' finalizers needs no reconcile)."""
        self._attempted_version = 0
        self._failures = 0
        self.attempted = asyncio.Event()
        """Set once the item was attempted, successfully or not, or is gone: the runtime's
        readiness (`Runtime.settled`) waits for this, not for success, so a failing item in
        its backoff never holds the daemon's readiness back."""
        self.task = asyncio.create_task(self._work(), name=f"{context.controller.name}:{pointer}")

    @property
    def waiting(self) -> bool:
        """Whether the last attempt failed for want of something else (see
        `ItemContext.waiting`)."""
        return self in self._context.waiting

    def poke(self, *, changed: bool = False) -> None:
        """Queue a reconcile. `changed`: the item itself changed (its own watch event), so a
        version already reconciled is skipped, such as the one adding this controller's
        finalizer; any other poke (resync, refresh, files, weak inputs, a retry) reconciles."""
        self._forced = self._forced or not changed
        self._changed = self._changed or changed
        self._poked.set()

    async def _work(self) -> None:
        while True:
            await self._poked.wait()
            self._poked.clear()
            forced, self._forced = self._forced, False
            try:
                resource = await self._context.state.get(self.pointer)
            except NotFoundError:
                self.attempted.set()
                continue  # destroyed: the controller's run ends this task
            if not forced and self._reconciled(resource):
                if resource.version != self._observed_version:  # others' finalizers only
                    await self._succeeded(resource)
                continue
            try:
                await self._step(resource)
            except (VersionConflictError, PhaseConflictError):
                continue  # someone changed it meanwhile: their event pokes us again
            except Exception as error:  # a domain failure: retried, and shown on the condition
                await self._failed(resource, error)
                self.attempted.set()
                await self._back_off(self._context.backoff.delay(self._failures))
                self.poke()  # the retry
            else:
                self._failures = 0
                self._context.waiting.discard(self)
                self.attempted.set()

    async def _back_off(self, seconds: float) -> None:
        """Wait `seconds`, or less if the item itself changes (a client fixed the spec) or,
        for an item waiting for something, at any poke. Otherwise drift notices, resyncs and
        refreshes do not cut it short: a reconcile that changes the system and still fails
        would retry at each change it makes itself."""
        self._changed = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            self._poked.clear()
            try:
                await asyncio.wait_for(self._poked.wait(), remaining)
            except TimeoutError:
                return
            if self.waiting or (self._changed and await self._changed_since_attempt()):
                return
            self._changed = False

    async def _changed_since_attempt(self) -> bool:
        """Whether the item is now other than the version that failed (not merely the event
        of the attempt's own finalizer update)."""
        current = await self._context.state.find(self.pointer)
        return current is None or current.version != self._attempted_version

    def _reconciled(self, resource: Resource) -> bool:
        """Whether the item, still running with this controller's finalizer, is as it was
        last reconciled, successfully. Only its content counts (spec, labels, annotations):
        the versions other controllers make adding their finalizers need no reconcile."""
        return (
            self._failures == 0
            and self._observed is not None
            and self._same(resource, self._observed)
        )

    def _same(self, resource: Resource, reconciled: Resource) -> bool:
        """Whether `resource` is `reconciled` but for its version and others' finalizers."""
        metadata, before = resource.metadata, reconciled.metadata
        return (
            metadata.phase == Phase.RUNNING
            and self._context.controller.name in metadata.finalizers
            and metadata.created == before.created
            and resource.spec == reconciled.spec
            and metadata.labels == before.labels
            and metadata.annotations == before.annotations
        )

    async def _latest_alike(self, resource: Resource) -> Resource:
        """The version stored now if it is `resource` but for others' finalizers (added while
        it reconciled), else `resource`: the condition can say that version converged, so
        its event needs no reconcile, and a wait for it none either."""
        latest = await self._context.state.find(self.pointer)
        if (
            latest is not None
            and latest.version > resource.version
            and self._same(latest, resource)
        ):
            return latest
        return resource

    async def _step(self, resource: Resource) -> None:
        name = self._context.controller.name
        finalizers = resource.metadata.finalizers
        started = time.perf_counter()
        self._attempted_version = resource.version
        if resource.metadata.phase == Phase.TEARING_DOWN:
            if name not in finalizers:
                return
            await self._context.controller.teardown(resource, self._context.writer)
            await self._context.state.remove_finalizer(self.pointer, name)
            self._context.metrics.teardowns += 1
            log.info("torn down", controller=name, item=str(self.pointer))
        else:
            if name not in finalizers:
                resource = await self._context.state.add_finalizer(self.pointer, name)
                self._attempted_version = resource.version
            outcome = await self._context.controller.reconcile(resource, self._context.writer)
            if outcome == Outcome.APPLIED and resource.version == self._observed_version:
                outcome = Outcome.REPAIRED  # this version had converged: the system drifted
            self._count(outcome)
            await self._context.observed()
            await self._succeeded(await self._latest_alike(resource))
        self._context.metrics.observe(time.perf_counter() - started)

    async def _succeeded(self, resource: Resource) -> None:
        """`resource` (this version) is reconciled: the condition says so."""
        self._observed, self._observed_version = resource, resource.version
        self._attempted_version = resource.version
        await self._condition(
            Condition(
                controller=self._context.controller.name,
                observed_version=resource.version,
                attempted_version=resource.version,
                ready=True,
                reason=Reason.RECONCILED,
            )
        )

    def _count(self, outcome: Outcome) -> None:
        metrics = self._context.metrics
        metrics.reconciles += 1
        if outcome == Outcome.APPLIED:
            metrics.applied += 1
        elif outcome == Outcome.REPAIRED:
            metrics.repairs += 1
            log.info(
                "repaired drift", controller=self._context.controller.name, item=str(self.pointer)
            )

    async def _failed(self, resource: Resource, error: Exception) -> None:
        self._failures += 1
        tearing_down = resource.metadata.phase == Phase.TEARING_DOWN
        metrics = self._context.metrics
        if tearing_down:
            metrics.teardown_failures += 1
        else:
            metrics.reconcile_failures += 1
        reason = _reason(error, Reason.TEARDOWN_FAILED if tearing_down else Reason.RECONCILE_FAILED)
        if is_waiting(reason):
            self._context.waiting.add(self)
        else:
            self._context.waiting.discard(self)
        log.warning(
            "reconcile failed",
            controller=self._context.controller.name,
            item=str(self.pointer),
            reason=reason,
            error=str(error),
            failures=self._failures,
        )
        await self._condition(
            Condition(
                controller=self._context.controller.name,
                observed_version=self._observed_version,
                attempted_version=self._attempted_version,
                ready=False,
                reason=reason,
                message=str(error) or type(error).__name__,
                attempts=self._failures,
            )
        )

    async def _condition(self, condition: Condition) -> None:
        pointer = condition_pointer(self._context.controller.name, self.pointer)
        await self._context.conditions.put(pointer, to_spec(condition))

    async def forget(self) -> None:
        """The item is gone: stop working on it and drop its condition."""
        self._context.waiting.discard(self)
        self.attempted.set()  # nothing left to wait for
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        pointer = condition_pointer(self._context.controller.name, self.pointer)
        await self._context.conditions.destroy(pointer)


def _reason(error: Exception, default: Reason) -> str:
    """The error's own reason word when it has one (driver errors do), else `default`."""
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) and reason else default
