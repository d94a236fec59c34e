"""Where the store writes through to: the persistence half of a backend.

The store keeps every resource in memory (that is where versions, queries and watches are
served from) and hands the changes of durable namespaces to a Journal, one transaction per
turn of the event loop (see `group_commit`), before they become visible. Calls are
synchronous: a transaction is short, and the store's state must not move while it commits. A
journal that cannot write raises, and the changes are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from cosid.state.resource import Pointer, Resource


class Journal(Protocol):
    def load(self) -> Iterable[Resource]:
        """Every stored resource, to rebuild the in-memory state at start-up."""
        ...

    def write(self, puts: Sequence[Resource], deletes: Sequence[Pointer]) -> None:
        """Store created or updated resources and forget destroyed ones, in one transaction
        that is durable before returning: all of it, or (raising) none of it."""
        ...

    def close(self) -> None: ...


class NoJournal:
    """The in-memory backend: nothing survives the process."""

    def load(self) -> Iterable[Resource]:
        return ()

    def write(self, puts: Sequence[Resource], deletes: Sequence[Pointer]) -> None:
        pass

    def close(self) -> None:
        pass
