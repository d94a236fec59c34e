"""The resource model the store keeps: immutable values, shared safely between watchers.

A COSI resource is metadata the store versions plus a spec the store never interprets.
The wire form (cosi.resource.Resource) is converted at the edges by `codec`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

UNDEFINED_VERSION = 0
"""Version of a resource the store has not stored (a tombstone); "undefined" on the wire."""


class Phase(StrEnum):
    """Lifecycle phase: a resource being torn down waits for its finalizers to go."""

    RUNNING = "running"
    TEARING_DOWN = "tearingDown"


class Kind(NamedTuple):
    """A (namespace, type) pair: the unit that lists, watches and bookmarks work on.

    Kinds and pointers are named tuples, not dataclasses: the store makes and hashes them on
    every read and write, and a tuple does both in C, a few times faster."""

    namespace: str
    type: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.type}"


class Pointer(NamedTuple):
    """The key of one resource."""

    namespace: str
    type: str
    id: str

    @property
    def kind(self) -> Kind:
        return Kind(self.namespace, self.type)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.type}/{self.id}"


@dataclass(frozen=True, slots=True)
class Metadata:
    """Everything about a resource but its spec. Timestamps are Unix nanoseconds or None."""

    namespace: str
    type: str
    id: str
    version: int = UNDEFINED_VERSION
    owner: str = ""
    phase: Phase = Phase.RUNNING
    created: int | None = None
    updated: int | None = None
    finalizers: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def pointer(self) -> Pointer:
        return Pointer(self.namespace, self.type, self.id)


@dataclass(frozen=True, slots=True)
class Spec:
    """The opaque spec: both forms are stored and echoed back exactly as sent."""

    proto: bytes = b""
    yaml: str = ""


@dataclass(frozen=True, slots=True)
class Resource:
    metadata: Metadata
    spec: Spec = field(default_factory=Spec)

    @property
    def pointer(self) -> Pointer:
        return self.metadata.pointer

    @property
    def version(self) -> int:
        return self.metadata.version

    def with_metadata(self, **changes: object) -> Resource:
        """A copy with some metadata fields replaced (the store's only way to "modify"); every
        write makes one, so it skips the checks of `dataclasses.replace`."""
        metadata = self.metadata
        values = {name: getattr(metadata, name) for name in _METADATA_FIELDS}
        values.update(changes)
        return Resource(Metadata(**values), self.spec)


_METADATA_FIELDS = tuple(field.name for field in dataclasses.fields(Metadata))


def tombstone(pointer: Pointer) -> Resource:
    """The stand-in for a resource that does not exist: its key and an undefined version."""
    return Resource(Metadata(pointer.namespace, pointer.type, pointer.id))


def kind_tombstone(kind: Kind) -> Resource:
    """The stand-in resource of a BOOTSTRAPPED event: just the namespace and type."""
    return Resource(Metadata(kind.namespace, kind.type, ""))
