"""Count limits: how many resources clients may create and how many watches may be open.

Past a limit a call is refused RESOURCE_EXHAUSTED, with a message naming the limit and its
value and a google.rpc.QuotaFailure saying what is full, and nothing changes: a client that
fills the node gets an answer, and the daemon (its memory, its other clients) stays healthy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import grpc
from google.rpc import error_details_pb2

from cosid.server.errors import StatusError
from cosid.server.limits import Limits
from cosid.state.registry import Registry
from cosid.state.resource import Kind
from cosid.state.state import State


class QuotaExceededError(StatusError):
    """A count limit reached: RESOURCE_EXHAUSTED naming the limit and its value."""

    def __init__(self, limit: str, value: int, subject: str, situation: str) -> None:
        violation = error_details_pb2.QuotaFailure.Violation(
            subject=subject, description=f"limits.{limit} is {value}"
        )
        super().__init__(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"limits.{limit} ({value}) reached: {situation}",
            [error_details_pb2.QuotaFailure(violations=[violation])],
        )


class ResourceCounter(Protocol):
    def count(self, namespace: str, type: str | None = None) -> int:
        """Resources in a namespace (of one type, if given), writes not yet committed included."""
        ...


class CountingState(State, ResourceCounter, Protocol):
    """A state that counts its resources cheaply (the store): what the server serves from."""


class ResourceQuota:
    """What clients may create, checked just before the write with no await in between, so the
    count includes every write racing in the same turn of the event loop. Only client
    creations are checked: what cosid writes itself (statuses, conditions, originals) must
    never be refused, and an update adds nothing."""

    def __init__(self, counter: ResourceCounter, registry: Registry, limits: Limits) -> None:
        self._counter = counter
        self._registry = registry
        self._per_type = limits.resources_per_type
        self._per_namespace = limits.resources_per_namespace

    def check_creations(self, kinds: Sequence[Kind]) -> None:
        """Raise QuotaExceededError unless one more resource of each of `kinds` (a batch, all
        or nothing) keeps every type, and every open namespace, within its limit."""
        for kind, adding in Counter(kinds).items():
            held = self._counter.count(kind.namespace, kind.type)
            if held + adding > self._per_type:
                raise QuotaExceededError(
                    "resources_per_type",
                    self._per_type,
                    str(kind),
                    f"{kind} holds {held}, this call would create {adding} more",
                )
        for namespace, adding in Counter(kind.namespace for kind in kinds).items():
            if not self._registry.namespace(namespace).open:
                continue  # its types are cosid's own, each bounded by resources_per_type
            held = self._counter.count(namespace)
            if held + adding > self._per_namespace:
                raise QuotaExceededError(
                    "resources_per_namespace",
                    self._per_namespace,
                    namespace,
                    f"namespace {namespace} holds {held}, this call would create {adding} more",
                )


class WatcherSlots:
    """Watch streams open, in total and per connection: a slot is taken before a watch is set
    up and given back when its stream ends, however it ends (closed, cancelled, past its
    deadline, the client gone)."""

    def __init__(self, limits: Limits) -> None:
        self._total = limits.watchers_total
        self._per_connection = limits.watchers_per_connection
        self._open: Counter[tuple[str, str]] = Counter()
        """Open watches by (listener address, peer): the closest gRPC comes to a connection."""

    @contextmanager
    def held(self, listener: str, peer: str) -> Iterator[None]:
        """A slot for the block's duration; QuotaExceededError when none is free."""
        connection = (listener, peer)
        if self._open.total() >= self._total:
            raise QuotaExceededError(
                "watchers_total", self._total, "watchers", "no more watches until one ends"
            )
        if self._open[connection] >= self._per_connection:
            raise QuotaExceededError(
                "watchers_per_connection",
                self._per_connection,
                f"{listener} {peer}",
                f"no more watches from peer {peer} on {listener} until one of its own ends",
            )
        self._open[connection] += 1
        try:
            yield
        finally:
            self._open[connection] -= 1
            if not self._open[connection]:
                del self._open[connection]
