"""Where the store writes through to: the persistence half of a backend.

The store keeps every resource in memory (that is where versions, queries and watches are
served from) and hands each change of a durable namespace to a Journal before it becomes
visible. Calls are synchronous on purpose: check, persist and publish then happen without an
await in between, so compare-and-swap is atomic without locks. A journal that cannot write
raises, and the change is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from cosid.state.resource import Pointer, Resource


class Journal(Protocol):
    def load(self) -> Iterable[Resource]:
        """Every stored resource, to rebuild the in-memory state at start-up."""
        ...

    def put(self, resource: Resource) -> None:
        """Store a created or updated resource durably before returning."""
        ...

    def put_all(self, resources: Sequence[Resource]) -> None:
        """Store several resources durably in one transaction: all of them, or none."""
        ...

    def delete(self, pointer: Pointer) -> None:
        """Forget a destroyed resource durably before returning."""
        ...

    def close(self) -> None: ...


class NoJournal:
    """The in-memory backend: nothing survives the process."""

    def load(self) -> Iterable[Resource]:
        return ()

    def put(self, resource: Resource) -> None:
        pass

    def put_all(self, resources: Sequence[Resource]) -> None:
        pass

    def delete(self, pointer: Pointer) -> None:
        pass

    def close(self) -> None:
        pass
