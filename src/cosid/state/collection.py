"""One (namespace, type): its resources and the bounded history of its events.

Positions count events since the store started. The history keeps the last `capacity` of them,
which is what tail events and bookmarks can reach back to; a watcher reading an evicted
position has fallen behind and is told so. Writers never wait for readers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from itertools import islice

from cosid.state.errors import InvalidBookmarkError
from cosid.state.events import BookmarkCodec, Event, EventType
from cosid.state.resource import Kind, Resource


class HistoryOverrunError(Exception):
    """A watcher asked for events the bounded history no longer holds."""


class Collection:
    def __init__(self, kind: Kind, capacity: int) -> None:
        self.kind = kind
        self.resources: dict[str, Resource] = {}
        self._history: deque[Event] = deque(maxlen=capacity)
        self._bookmarks = BookmarkCodec()
        """Its own cookie: a bookmark of another type (or daemon run) is refused, not misread."""
        self.published = 0
        self.watchers = 0
        self._changed: asyncio.Event | None = None

    @property
    def oldest_position(self) -> int:
        return self.published - len(self._history)

    def bookmark(self, next_position: int) -> bytes:
        return self._bookmarks.encode(next_position)

    def publish(
        self, event_type: EventType, resource: Resource, old: Resource | None = None
    ) -> None:
        bookmark = self.bookmark(self.published + 1)
        self._history.append(Event(event_type, resource, old, bookmark))
        self.published += 1
        self.wake()

    @property
    def changed(self) -> asyncio.Event:
        """Set on the next publish; take it before reading to never miss a wake-up. Made when
        first taken, not at every publish: a turn of the loop may publish hundreds of events
        and wake its readers once."""
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def read(self, position: int) -> list[Event]:
        """Every event from `position` on (read from the newest end: a watcher is usually near)."""
        oldest = self.oldest_position
        if position < oldest:
            raise HistoryOverrunError(
                f"buffer overrun: namespace {self.kind.namespace!r} type {self.kind.type!r}, "
                f"published {self.published}, oldest kept {oldest}, consumed {position}",
            )
        pending = list(islice(reversed(self._history), self.published - position))
        pending.reverse()
        return pending

    def rewind(self, position: int, count: int, resource_id: str | None = None) -> int:
        """The position `count` events (of `resource_id` only, if given) before `position`."""
        oldest = self.oldest_position
        if resource_id is None:
            return max(oldest, position - count)
        for index in range(position - oldest - 1, -1, -1):
            if count == 0:
                break
            resource = self._history[index].resource
            if resource is not None and resource.metadata.id == resource_id:
                count -= 1
                position = oldest + index
        return position

    def resume_position(self, bookmark: bytes) -> int:
        position = self._bookmarks.decode(bookmark)
        if not self.oldest_position <= position <= self.published:
            raise InvalidBookmarkError("invalid watch bookmark: too old to resume from")
        return position

    def sorted_resources(self) -> list[Resource]:
        return [self.resources[key] for key in sorted(self.resources)]
