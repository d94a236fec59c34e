"""Group commit: the durable changes made during one turn of the event loop share one journal
transaction (one fsync), instead of one each.

A durable change is checked and *staged* at once, without an await in between, so
compare-and-swap stays atomic: later writers check against the staged state. It becomes
visible (stored in memory, published to watchers) only once the transaction that holds it has
committed, and its writer's call returns only then: what a reader sees and what a writer was
told is always on disk. When the loop turns, one commit serves every writer staged meanwhile;
200 controllers adding their finalizers at once cost one fsync, not 200. If the commit fails,
every change of that turn is dropped and each of its writers gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from cosid.state.events import EventType
from cosid.state.journal import Journal
from cosid.state.resource import Pointer, Resource


@dataclass(frozen=True, slots=True)
class Change:
    type: EventType
    resource: Resource
    old: Resource | None


Publish = Callable[[Change], None]


class GroupCommit:
    def __init__(self, journal: Journal, publish: Publish) -> None:
        self._journal = journal
        self._publish = publish
        self._changes: list[Change] = []
        self._latest: dict[Pointer, Resource | None] = {}
        """What each staged pointer will be once committed (None: destroyed)."""
        self._committed: asyncio.Future[None] | None = None

    def staged(self, pointer: Pointer) -> tuple[bool, Resource | None]:
        """Whether `pointer` has a staged change, and what it will be (None: destroyed)."""
        if pointer in self._latest:
            return True, self._latest[pointer]
        return False, None

    def stage(self, change: Change) -> asyncio.Future[None]:
        """Queue a change for the next commit; the future is done once it is committed and
        published (or holds the commit's error)."""
        if self._committed is None:
            loop = asyncio.get_running_loop()
            self._committed = loop.create_future()
            loop.call_soon(self.flush)
        self._changes.append(change)
        pointer = change.resource.pointer
        self._latest[pointer] = None if change.type == EventType.DESTROYED else change.resource
        return self._committed

    def flush(self) -> None:
        """Commit what is staged (if anything), then publish it in the order it was staged."""
        committed, changes, latest = self._committed, self._changes, self._latest
        if committed is None:
            return
        self._committed, self._changes, self._latest = None, [], {}
        try:  # what each resource ends as: several changes of one (finalizers) are one row
            self._journal.write(
                [resource for resource in latest.values() if resource is not None],
                [pointer for pointer, resource in latest.items() if resource is None],
            )
        except Exception as error:
            if not committed.done():
                committed.set_exception(error)
            return
        for change in changes:
            self._publish(change)
        if not committed.done():
            committed.set_result(None)
