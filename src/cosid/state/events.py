"""Watch events and the bookmarks that let a watcher resume exactly where it left off."""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from enum import IntEnum

from cosid.state.errors import InvalidBookmarkError
from cosid.state.resource import Resource


class EventType(IntEnum):
    """Values equal the wire enum cosi.resource.EventType."""

    CREATED = 0
    UPDATED = 1
    DESTROYED = 2
    BOOTSTRAPPED = 3
    ERRORED = 4
    NOOP = 5


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    resource: Resource | None
    old: Resource | None = None
    bookmark: bytes | None = None
    error: str | None = None


class BookmarkCodec:
    """Bookmarks are opaque to clients: a cookie and the position to resume at.

    Each collection draws its own random cookie, so a bookmark of another type, or from an
    earlier daemon run (whose history is gone), is refused instead of silently resuming at the
    wrong place.
    """

    _FORMAT = ">8sQ"

    def __init__(self) -> None:
        self._cookie = secrets.token_bytes(8)

    def encode(self, next_position: int) -> bytes:
        return struct.pack(self._FORMAT, self._cookie, next_position)

    def decode(self, bookmark: bytes) -> int:
        """The position of the first event after the bookmarked one."""
        if len(bookmark) != struct.calcsize(self._FORMAT):
            raise InvalidBookmarkError("invalid watch bookmark: malformed")
        cookie, next_position = struct.unpack(self._FORMAT, bookmark)
        if cookie != self._cookie:
            raise InvalidBookmarkError("invalid watch bookmark: from another type or daemon run")
        return int(next_position)
