"""The store: every COSI State behaviour, in memory, writing durable namespaces to a journal.

One implementation of the semantics serves both backends (the in-memory one has no journal),
as the reference runtime's inmem state does with its backing store. Mutations never await
between their checks and staging their effects, so compare-and-swap is atomic without locks;
a durable change becomes visible to anyone, and its writer is answered, only once the
journal has committed it (one transaction per turn of the event loop: `group_commit`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from cosid.state.collection import Collection, HistoryOverrunError
from cosid.state.errors import (
    AlreadyExistsError,
    NotFoundError,
    OwnerConflictError,
    PendingFinalizersError,
    PhaseConflictError,
    StateError,
    VersionConflictError,
)
from cosid.state.events import Event, EventType
from cosid.state.group_commit import Change, GroupCommit
from cosid.state.journal import Journal, NoJournal
from cosid.state.query import MATCH_ALL, ResourceQuery
from cosid.state.resource import (
    UNDEFINED_VERSION,
    Kind,
    Phase,
    Pointer,
    Resource,
    kind_tombstone,
    tombstone,
)
from cosid.state.state import (
    EventBatch,
    InvalidWatchOptionsError,
    ResourceList,
    WatchKindOptions,
    WatchOptions,
)

DEFAULT_HISTORY_CAPACITY = 10_000

EventSelector = Callable[[Event], Event | None]


class StoreClosedError(StateError):
    """The daemon is shutting down."""


class Store:
    def __init__(
        self,
        journal: Journal | None = None,
        durable_namespaces: Iterable[str] = (),
        history_capacity: int = DEFAULT_HISTORY_CAPACITY,
    ) -> None:
        self._journal = journal or NoJournal()
        self._durable = frozenset(durable_namespaces)
        self._history_capacity = history_capacity
        self._collections: dict[Kind, Collection] = {}
        self._closed = False
        self._group = GroupCommit(self._journal, self._publish)
        self._load()

    def _load(self) -> None:
        """Rebuild memory from the journal; rows of namespaces no longer durable are dropped."""
        for resource in list(self._journal.load()):
            if resource.metadata.namespace in self._durable:
                self._collection(resource.pointer.kind).resources[resource.metadata.id] = resource
            else:
                self._journal.write([], [resource.pointer])

    def _collection(self, kind: Kind) -> Collection:
        collection = self._collections.get(kind)
        if collection is None:
            collection = Collection(kind, self._history_capacity)
            self._collections[kind] = collection
        return collection

    def _existing(self, kind: Kind) -> Collection | None:
        """A read never creates a collection, so probing random types costs no memory."""
        return self._collections.get(kind)

    def _stored(self, pointer: Pointer) -> Resource:
        """The committed resource: what reads see."""
        collection = self._existing(pointer.kind)
        resource = None if collection is None else collection.resources.get(pointer.id)
        if resource is None:
            raise NotFoundError(pointer)
        return resource

    def _latest(self, pointer: Pointer) -> Resource | None:
        """What a write checks against: the committed resource, or what a change staged in
        this turn of the event loop will make it."""
        staged, resource = self._group.staged(pointer)
        if staged:
            return resource
        collection = self._existing(pointer.kind)
        return None if collection is None else collection.resources.get(pointer.id)

    def _current(self, pointer: Pointer) -> Resource:
        resource = self._latest(pointer)
        if resource is None:
            raise NotFoundError(pointer)
        return resource

    async def _commit(self, changes: Sequence[Change]) -> None:
        """Make checked changes durable (when their namespace is), then visible."""
        if self._closed:
            raise StoreClosedError("the store is closed")
        committed = None  # one future per turn of the loop, whatever the number of changes
        for change in changes:
            if change.resource.metadata.namespace in self._durable:
                committed = self._group.stage(change)
            else:
                self._publish(change)
        if committed is not None:
            await asyncio.shield(committed)

    def _publish(self, change: Change) -> None:
        pointer = change.resource.pointer
        collection = self._collection(pointer.kind)
        if change.type == EventType.DESTROYED:
            del collection.resources[pointer.id]
        else:
            collection.resources[pointer.id] = change.resource
        collection.publish(change.type, change.resource, change.old)

    @staticmethod
    def _check_owner(stored: Resource, owner: str) -> None:
        if stored.metadata.owner != owner:
            raise OwnerConflictError(stored.pointer, stored.metadata.owner, owner)

    async def get(self, pointer: Pointer) -> Resource:
        return self._stored(pointer)

    async def find(self, pointer: Pointer) -> Resource | None:
        collection = self._existing(pointer.kind)
        return None if collection is None else collection.resources.get(pointer.id)

    async def list(self, kind: Kind, query: ResourceQuery = MATCH_ALL) -> ResourceList:
        collection = self._existing(kind)
        if collection is None:
            return []
        return [r for r in collection.sorted_resources() if query.matches(r)]

    def count(self, namespace: str, type: str | None = None) -> int:
        """How many resources a namespace holds (of one type, if given), writes staged in this
        turn of the event loop included: what a quota checks just before a write, so writers
        racing in one turn cannot all pass it. Reads sizes, never resources: one lookup for a
        type, a pass over the store's types for a whole namespace."""

        def counted(kind: Kind) -> bool:
            return kind.namespace == namespace and type in (None, kind.type)

        kinds = (
            [k for k in self._collections if counted(k)]
            if type is None
            else [Kind(namespace, type)]
        )
        total = sum(len(c.resources) for k in kinds if (c := self._existing(k)) is not None)
        for pointer, staged in self._group._latest.items():  # at most one turn's writes
            if counted(pointer.kind):
                collection = self._existing(pointer.kind)
                stored = collection is not None and pointer.id in collection.resources
                total += (staged is not None) - stored
        return total

    async def create(self, resource: Resource, owner: str = "") -> Resource:
        pointer = resource.pointer
        if self._latest(pointer) is not None:
            raise AlreadyExistsError(pointer)
        now = time.time_ns()
        stored = resource.with_metadata(version=1, owner=owner, created=now, updated=now)
        await self._commit([Change(EventType.CREATED, stored, None)])
        return stored

    async def update(
        self, resource: Resource, owner: str = "", expected_phase: Phase | None = None
    ) -> Resource:
        current = self._current(resource.pointer)
        self._check_owner(current, owner)
        if current.version != resource.version:
            raise VersionConflictError(resource.pointer, current.version, resource.version)
        if expected_phase is not None and current.metadata.phase != expected_phase:
            raise PhaseConflictError(resource.pointer, current.metadata.phase, expected_phase)
        stored = resource.with_metadata(
            version=current.version + 1, created=current.metadata.created, updated=time.time_ns()
        )
        await self._commit([Change(EventType.UPDATED, stored, current)])
        return stored

    async def add_finalizer(self, pointer: Pointer, finalizer: str) -> Resource:
        """Add `finalizer` to the latest version of a running resource (one staged in this
        turn of the loop included), whoever owns it, as COSI's AddFinalizer does: no
        compare-and-swap, so the controllers of one resource adding theirs in the same turn
        do not conflict. PhaseConflictError once it is being torn down."""
        current = self._current(pointer)
        if current.metadata.phase != Phase.RUNNING:
            raise PhaseConflictError(pointer, current.metadata.phase, Phase.RUNNING)
        if finalizer in current.metadata.finalizers:
            return current
        return await self._change_finalizers(current, (*current.metadata.finalizers, finalizer))

    async def remove_finalizer(self, pointer: Pointer, finalizer: str) -> Resource:
        """Remove `finalizer` from the latest version, whoever owns it and in any phase (COSI's
        RemoveFinalizer): a controller done tearing down never conflicts with another."""
        current = self._current(pointer)
        finalizers = current.metadata.finalizers
        if finalizer not in finalizers:
            return current
        remaining = tuple(f for f in finalizers if f != finalizer)
        return await self._change_finalizers(current, remaining)

    async def _change_finalizers(self, current: Resource, finalizers: tuple[str, ...]) -> Resource:
        stored = current.with_metadata(
            finalizers=finalizers, version=current.version + 1, updated=time.time_ns()
        )
        await self._commit([Change(EventType.UPDATED, stored, current)])
        return stored

    async def write_all(self, resources: Sequence[Resource], owner: str = "") -> ResourceList:
        """Create (version undefined) or compare-and-swap update (the stored version, phase
        running) several resources as one change: all are checked before any is written, the
        journal commits them in one transaction, and a refusal leaves everything as it was."""
        pointers = {resource.pointer for resource in resources}
        if len(pointers) != len(resources):
            raise ValueError("write_all: a resource is given more than once")
        now = time.time_ns()
        changes = [self._checked_write(resource, owner, now) for resource in resources]
        await self._commit(changes)
        return [change.resource for change in changes]

    def _checked_write(self, resource: Resource, owner: str, now: int) -> Change:
        current = self._latest(resource.pointer)
        if resource.version == UNDEFINED_VERSION:
            if current is not None:
                raise AlreadyExistsError(resource.pointer)
            created = resource.with_metadata(version=1, owner=owner, created=now, updated=now)
            return Change(EventType.CREATED, created, None)
        if current is None:
            raise NotFoundError(resource.pointer)
        self._check_owner(current, owner)
        if current.version != resource.version:
            raise VersionConflictError(resource.pointer, current.version, resource.version)
        if current.metadata.phase != Phase.RUNNING:
            raise PhaseConflictError(resource.pointer, current.metadata.phase, Phase.RUNNING)
        updated = resource.with_metadata(
            version=current.version + 1, created=current.metadata.created, updated=now
        )
        return Change(EventType.UPDATED, updated, current)

    async def destroy(self, pointer: Pointer, owner: str = "") -> None:
        current = self._current(pointer)
        self._check_owner(current, owner)
        if current.metadata.finalizers:
            raise PendingFinalizersError(pointer, current.metadata.finalizers)
        await self._commit([Change(EventType.DESTROYED, current, None)])

    async def teardown(self, pointer: Pointer, owner: str = "") -> bool:
        current = self._current(pointer)
        self._check_owner(current, owner)
        if current.metadata.phase != Phase.TEARING_DOWN:
            torn = current.with_metadata(
                phase=Phase.TEARING_DOWN, version=current.version + 1, updated=time.time_ns()
            )
            await self._commit([Change(EventType.UPDATED, torn, current)])
            current = torn
        return not current.metadata.finalizers

    async def teardown_and_destroy(self, pointer: Pointer, owner: str = "") -> None:
        await self.teardown(pointer, owner)
        created = self._stored(pointer).metadata.created
        collection = self._collection(pointer.kind)
        while True:
            if self._closed:
                raise StoreClosedError("the store is closing")
            changed = collection.changed
            current = self._stored(pointer)
            if current.metadata.created != created:  # destroyed and made anew: not ours to end
                raise NotFoundError(pointer)
            if not current.metadata.finalizers:
                try:
                    await self.destroy(pointer, owner)
                except PendingFinalizersError:
                    pass  # one was added in the same turn of the loop: wait for it to go
                else:
                    return
            await changed.wait()

    async def watch(
        self, pointer: Pointer, options: WatchOptions = WatchOptions()
    ) -> AsyncIterator[EventBatch]:
        _check_resume_options(options.tail_events, options.start_from_bookmark)
        collection = self._collection(pointer.kind)
        initial: list[EventBatch] = []
        if options.start_from_bookmark is not None:
            position = collection.resume_position(options.start_from_bookmark)
        elif options.tail_events:
            position = collection.rewind(collection.published, options.tail_events, pointer.id)
        else:
            position = collection.published
            bookmark = collection.bookmark(position)
            current = collection.resources.get(pointer.id)
            if current is None:
                initial.append([Event(EventType.DESTROYED, tombstone(pointer), bookmark=bookmark)])
            else:
                initial.append([Event(EventType.CREATED, current, bookmark=bookmark)])

        def select(event: Event) -> Event | None:
            resource = event.resource
            return event if resource is not None and resource.metadata.id == pointer.id else None

        return self._follow(collection, position, initial, select)

    async def watch_kind(
        self, kind: Kind, options: WatchKindOptions = WatchKindOptions()
    ) -> AsyncIterator[EventBatch]:
        _check_resume_options(options.tail_events, options.start_from_bookmark)
        resumes = options.tail_events or options.start_from_bookmark is not None
        if options.bootstrap_contents and resumes:
            raise InvalidWatchOptionsError(
                "bootstrap_contents", "cannot be combined with tail_events or start_from_bookmark"
            )
        collection = self._collection(kind)
        if options.start_from_bookmark is not None:
            position = collection.resume_position(options.start_from_bookmark)
        else:
            position = collection.rewind(collection.published, options.tail_events)
        bookmark = collection.bookmark(position)
        initial: list[EventBatch] = []
        if options.bootstrap_contents:
            matching = [r for r in collection.sorted_resources() if options.query.matches(r)]
            bootstrap = [Event(EventType.CREATED, resource) for resource in matching]
            bootstrap.append(Event(EventType.BOOTSTRAPPED, kind_tombstone(kind), bookmark=bookmark))
            initial.append(bootstrap)
        if options.bootstrap_bookmark:
            initial.append([Event(EventType.NOOP, kind_tombstone(kind), bookmark=bookmark)])
        select = _query_selector(options.query)
        return self._follow(collection, position, initial, select)

    async def _follow(
        self,
        collection: Collection,
        position: int,
        initial: Sequence[EventBatch],
        select: EventSelector,
    ) -> AsyncIterator[EventBatch]:
        collection.watchers += 1
        try:
            for batch in initial:
                yield batch
            while True:
                if self._closed:
                    raise StoreClosedError("the daemon is shutting down")
                changed = collection.changed
                try:
                    events = collection.read(position)
                except HistoryOverrunError as overrun:
                    yield [Event(EventType.ERRORED, None, error=str(overrun))]
                    return
                if not events:
                    await changed.wait()
                    continue
                position += len(events)
                batch = [selected for event in events if (selected := select(event)) is not None]
                if batch:
                    yield batch
        finally:
            collection.watchers -= 1
            self._forget_if_unused(collection)

    def _forget_if_unused(self, collection: Collection) -> None:
        """Drop a collection only watches made: watching random types costs no lasting memory."""
        if collection.watchers == 0 and collection.published == 0 and not collection.resources:
            self._collections.pop(collection.kind, None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._group.flush()  # what writers were promised goes to disk before the journal closes
        for collection in self._collections.values():
            collection.wake()
        self._journal.close()


def _check_resume_options(tail_events: int, start_from_bookmark: bytes | None) -> None:
    if tail_events < 0:
        raise InvalidWatchOptionsError("tail_events", "must not be negative")
    if tail_events and start_from_bookmark is not None:
        raise InvalidWatchOptionsError("tail_events", "cannot be combined with start_from_bookmark")


def _query_selector(query: ResourceQuery) -> EventSelector:
    """Filter a kind's events through a query, turning matches that begin or end into
    synthetic CREATED and DESTROYED events (they keep the original event's bookmark)."""
    if query is MATCH_ALL:
        return lambda event: event

    def select(event: Event) -> Event | None:
        assert event.resource is not None
        now = query.matches(event.resource)
        if event.type != EventType.UPDATED:
            return event if now else None
        assert event.old is not None
        before = query.matches(event.old)
        if before and now:
            return event
        if now:
            return Event(EventType.CREATED, event.resource, bookmark=event.bookmark)
        if before:
            return Event(EventType.DESTROYED, event.resource, bookmark=event.bookmark)
        return None

    return select
