"""The State interface every backend implements, and the options of its watches.

This is the contract the conformance suite (tests/state) checks: anything that passes it can
back the daemon.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from cosid.state.events import Event
from cosid.state.query import MATCH_ALL, ResourceQuery
from cosid.state.resource import Kind, Phase, Pointer, Resource

EventBatch = list[Event]
"""Events delivered together; an aggregated watch sends each batch as one message."""

ResourceList = list[Resource]


@dataclass(frozen=True, slots=True)
class WatchOptions:
    """Options of a single-resource watch."""

    tail_events: int = 0
    start_from_bookmark: bytes | None = None


@dataclass(frozen=True, slots=True)
class WatchKindOptions:
    """Options of a watch on every resource of a kind."""

    bootstrap_contents: bool = False
    bootstrap_bookmark: bool = False
    tail_events: int = 0
    start_from_bookmark: bytes | None = None
    query: ResourceQuery = MATCH_ALL


class InvalidWatchOptionsError(ValueError):
    """Options that contradict each other (e.g. bootstrap and a bookmark); `field` is the
    option at fault, so the API can name it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class State(Protocol):
    async def get(self, pointer: Pointer) -> Resource:
        """The stored resource, or NotFoundError."""
        ...

    async def find(self, pointer: Pointer) -> Resource | None:
        """The stored resource, or None: for readers to whom a missing resource is no error
        (a controller's outputs, an item's condition), without raising and catching one."""
        ...

    async def list(self, kind: Kind, query: ResourceQuery = MATCH_ALL) -> ResourceList:
        """The matching resources of a kind, sorted by id."""
        ...

    async def create(self, resource: Resource, owner: str = "") -> Resource:
        """Store a new resource at version 1 owned by `owner`; returns what was stored."""
        ...

    async def update(
        self, resource: Resource, owner: str = "", expected_phase: Phase | None = None
    ) -> Resource:
        """Compare-and-swap: `resource` carries the version it was read at; stores version+1."""
        ...

    async def add_finalizer(self, pointer: Pointer, finalizer: str) -> Resource:
        """Add a finalizer to the latest version of a running resource, whoever owns it (no
        compare-and-swap); PhaseConflictError when it is being torn down."""
        ...

    async def remove_finalizer(self, pointer: Pointer, finalizer: str) -> Resource:
        """Remove a finalizer from the latest version, whoever owns it (no compare-and-swap)."""
        ...

    async def write_all(self, resources: Sequence[Resource], owner: str = "") -> ResourceList:
        """Create (undefined version) or update (stored version, phase running) several
        resources at once, all or nothing; returns what was stored, in order."""
        ...

    async def destroy(self, pointer: Pointer, owner: str = "") -> None:
        """Delete a resource that has no finalizers left."""
        ...

    async def teardown(self, pointer: Pointer, owner: str = "") -> bool:
        """Move to phase tearingDown (idempotent); True when no finalizers are left."""
        ...

    async def teardown_and_destroy(self, pointer: Pointer, owner: str = "") -> None:
        """Tear down, wait until others remove every finalizer, then destroy."""
        ...

    async def watch(
        self, pointer: Pointer, options: WatchOptions = WatchOptions()
    ) -> AsyncIterator[EventBatch]:
        """Set up a watch of one resource (errors are raised here), then batches of events."""
        ...

    async def watch_kind(
        self, kind: Kind, options: WatchKindOptions = WatchKindOptions()
    ) -> AsyncIterator[EventBatch]:
        """Set up a watch of a kind (errors are raised here), then batches of events."""
        ...

    def close(self) -> None:
        """End every watch and release the backend."""
        ...
