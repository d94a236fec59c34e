"""Store errors: one class per outcome a client must tell apart (each maps to one gRPC code)."""

from __future__ import annotations

from cosid.state.resource import Kind, Pointer


class StateError(Exception):
    """Base of every error the store raises on purpose."""


class NotFoundError(StateError):
    def __init__(self, pointer: Pointer) -> None:
        super().__init__(f"resource {pointer} doesn't exist")
        self.pointer = pointer


class AlreadyExistsError(StateError):
    def __init__(self, pointer: Pointer) -> None:
        super().__init__(f"resource {pointer} already exists")
        self.pointer = pointer


class OwnerConflictError(StateError):
    """The caller is not the resource's owner (the empty owner is an owner too)."""

    def __init__(self, pointer: Pointer, owner: str, caller: str) -> None:
        super().__init__(
            f"resource {pointer} is owned by {owner!r}, not {caller!r}",
        )
        self.pointer = pointer


class VersionConflictError(StateError):
    def __init__(self, pointer: Pointer, stored: int, sent: int) -> None:
        super().__init__(
            f"resource {pointer} update conflict: expected version {sent}, stored is {stored}",
        )
        self.pointer = pointer


class PhaseConflictError(StateError):
    def __init__(self, pointer: Pointer, phase: str, expected: str) -> None:
        super().__init__(f"resource {pointer} is in phase {phase!r}, not {expected!r}")
        self.pointer = pointer


class PendingFinalizersError(StateError):
    def __init__(self, pointer: Pointer, finalizers: tuple[str, ...]) -> None:
        super().__init__(f"resource {pointer} has pending finalizers {list(finalizers)}")
        self.pointer = pointer


class InvalidBookmarkError(StateError):
    """A bookmark that is malformed, from another daemon run or too old to resume from."""


class InvalidQueryError(StateError):
    """A label or id query that cannot be evaluated (bad regexp, bad operator arguments)."""


class UnknownNamespaceError(StateError):
    def __init__(self, namespace: str) -> None:
        super().__init__(f"namespace {namespace!r} doesn't exist")
        self.namespace = namespace


class UnknownTypeError(StateError):
    """A type the namespace neither defines nor accepts opaquely."""

    def __init__(self, kind: Kind) -> None:
        super().__init__(f"type {kind.type!r} is not defined in namespace {kind.namespace!r}")
        self.kind = kind
