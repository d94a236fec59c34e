"""What a controller is: a name, what it reads, what it writes, and two async functions.

Everything else (watches, coalescing, retries, finalizers, conditions, metrics) belongs to the
runtime, so a domain's controller holds only domain logic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Resource


class Strength(StrEnum):
    STRONG = "strong"
    """The controller acts on these resources: they carry its finalizer while it has."""
    WEAK = "weak"
    """The controller only reads these: a change re-queues its items."""


class Outcome(StrEnum):
    """What a reconcile did; the runtime counts each and logs repairs."""

    UNCHANGED = "unchanged"
    """The system already matched the spec."""
    APPLIED = "applied"
    """The spec was new or changed, and the system now matches it."""
    REPAIRED = "repaired"
    """The system had drifted from a spec already applied (someone changed it behind cosid's
    back) and was put back. The runtime also counts as one an APPLIED for a version that had
    converged before."""


@dataclass(frozen=True, slots=True)
class Input:
    kind: Kind
    strength: Strength = Strength.WEAK


@dataclass(frozen=True, slots=True)
class Output:
    kind: Kind
    exclusive: bool = True


class Controller(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def inputs(self) -> tuple[Input, ...]:
        """The first is the primary input (strong): each of its resources is an item."""
        ...

    @property
    def outputs(self) -> tuple[Output, ...]: ...

    @property
    def resync_seconds(self) -> float | None:
        """Reconcile every item this often even without events (for state the kernel does not
        announce, e.g. /proc/sys); None: events only."""
        ...

    @property
    def watched_paths(self) -> tuple[Path, ...]:
        """Files (absolute) whose change is drift: the runtime watches them with inotify and
        reconciles every item as soon as one changes. Empty (the usual value) when the
        controller's state is not in files, or the kernel announces nothing about it."""
        ...

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        """Make the system match `item`; raise to fail (the runtime retries with backoff)."""
        ...

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        """Undo what reconcile did; the item is destroyed once this returns."""
        ...


class Notice(Enum):
    """What a change notice says about who changed what the controller keeps."""

    DRIFT = "drift"
    """Something other than cosid changed it (or the stream cannot tell): any item may have
    drifted, so every item is reconciled."""
    OWN = "own"
    """Only cosid's own writes: items already converged stay so, but items waiting for
    something (a link, a master) may go on now, so those are retried at once."""


class ChangeStream(Protocol):
    """Notifications of changes the kernel announces (the mount table, netlink): iterating
    yields a Notice once after each change or burst of changes; `close` ends the iteration."""

    def __aiter__(self) -> AsyncIterator[Notice]: ...

    def close(self) -> None: ...


@runtime_checkable
class AnnouncesChanges(Protocol):
    """A controller whose state the kernel announces: the runtime follows `changes()` while
    the controller runs and reconciles every item on each DRIFT notice (as for
    `watched_paths`), so drift is repaired at once instead of at the next resync, and the
    items waiting for something on each OWN notice (cosid's own writes, such as a link the
    links controller made: the addresses waiting for it go on)."""

    def changes(self) -> ChangeStream:
        """Start watching (changes from now on are not missed); called once per run."""
        ...
