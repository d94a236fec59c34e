"""The only way a controller writes: to the kinds it declared as outputs, as their owner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from cosid.state.errors import NotFoundError
from cosid.state.resource import Kind, Metadata, Pointer, Resource, Spec
from cosid.state.state import ResourceList, State


class OwnershipError(Exception):
    """A controller tried to write a kind it did not declare as an output."""


class OutputWriter:
    def __init__(self, state: State, owner: str, outputs: frozenset[Kind]) -> None:
        self._state = state
        self._owner = owner
        self._outputs = outputs

    def _check(self, pointer: Pointer) -> None:
        if pointer.kind not in self._outputs:
            raise OwnershipError(f"controller {self._owner!r} does not own {pointer.kind}")

    async def get(self, pointer: Pointer) -> Resource | None:
        """Reads are free; None when missing."""
        return await self._state.find(pointer)

    async def list(self, kind: Kind) -> ResourceList:
        """Every resource of a kind, sorted by id; free like `get`, for a controller whose
        output depends on all its items at once (one file holding every spec)."""
        return await self._state.list(kind)

    async def put(
        self, pointer: Pointer, spec: Spec, labels: Mapping[str, str] | None = None
    ) -> Resource:
        """Create or update (`labels`: replace the labels too); an unchanged resource writes
        nothing (no version, no event)."""
        self._check(pointer)
        current = await self.get(pointer)
        if current is None:
            metadata = Metadata(pointer.namespace, pointer.type, pointer.id, labels=labels or {})
            return await self._state.create(Resource(metadata, spec), owner=self._owner)
        metadata = current.metadata
        if labels is not None and dict(metadata.labels) != labels:
            metadata = replace(metadata, labels=labels)
        elif current.spec == spec:
            return current
        return await self._state.update(Resource(metadata, spec), owner=self._owner)

    async def destroy(self, pointer: Pointer) -> None:
        """Destroy if present."""
        self._check(pointer)
        try:
            await self._state.destroy(pointer, owner=self._owner)
        except NotFoundError:
            return
