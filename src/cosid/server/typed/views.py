"""A domain's resource as its typed service shows it: the spec, with its status and condition.

Spec, status and condition are three COSI resources (the spec in the domain's namespace,
status and condition in `runtime`); a view joins them by id, reading the latest of each.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.resources.document import from_spec
from cosid.resources.typed import TypedApi, message_from_model
from cosid.runtime.conditions import Condition, condition_pointer
from cosid.state.resource import Metadata, Pointer, Resource
from cosid.state.state import State


class Views:
    """Views of one domain's specs. `controllers` act on them, the domain's own first: the
    view shows its condition; a wait is over when all of theirs say so."""

    def __init__(self, state: State, api: TypedApi, controllers: Sequence[str] = ()) -> None:
        self._state = state
        self.api = api
        self.controllers = tuple(controllers) or (api.controller,)
        self._prefixes = tuple(
            condition_pointer(name, self.spec_pointer("")).id for name in self.controllers
        )

    def spec_pointer(self, id: str) -> Pointer:
        return Pointer(self.api.specs.namespace, self.api.specs.type, id)

    def item_of_condition(self, condition_id: str) -> str | None:
        """The spec id a condition is about, if it is one of these controllers'."""
        for prefix in self._prefixes:
            if condition_id.startswith(prefix):
                return condition_id.removeprefix(prefix)
        return None

    async def of(self, spec: Resource) -> Message:
        """The view of a stored spec, with the status and condition stored now."""
        api = self.api
        parts: dict[str, Message] = {
            "metadata": object_meta(spec.metadata),
            "spec": api.spec_message(from_spec(api.spec_model, spec.spec)),
        }
        status = await self._get(
            Pointer(api.statuses.namespace, api.statuses.type, spec.metadata.id)
        )
        if status is not None:
            parts["status"] = api.status_message(from_spec(api.status_model, status.spec))
        condition = await self.condition(spec.metadata.id)
        if condition is not None:
            parts["condition"] = message_from_model(common_pb2.Condition, condition)
        return api.resource(**parts)

    async def of_status(self, status: Resource) -> Message:
        """The view of a status: its spec's view when a spec has its id, else the status
        alone (something the node has that no spec asked for)."""
        spec = await self._get(self.spec_pointer(status.metadata.id))
        if spec is not None:
            return await self.of(spec)
        api = self.api
        return api.resource(
            metadata=object_meta(status.metadata),
            status=api.status_message(from_spec(api.status_model, status.spec)),
        )

    async def current(self, id: str) -> Message | None:
        """The view of the spec stored now under `id`; None when there is none."""
        spec = await self._get(self.spec_pointer(id))
        return None if spec is None else await self.of(spec)

    async def condition(self, id: str) -> Condition | None:
        """The domain's own controller's condition of the spec (what every view shows)."""
        return await self._condition(self.controllers[0], id)

    async def conditions(self, id: str) -> list[Condition | None]:
        """Every acting controller's condition of the spec (None: none yet), in order."""
        return [await self._condition(name, id) for name in self.controllers]

    async def _condition(self, controller: str, id: str) -> Condition | None:
        stored = await self._get(condition_pointer(controller, self.spec_pointer(id)))
        return None if stored is None else from_spec(Condition, stored.spec)

    async def _get(self, pointer: Pointer) -> Resource | None:
        return await self._state.find(pointer)


def object_meta(metadata: Metadata) -> common_pb2.ObjectMeta:
    return common_pb2.ObjectMeta(
        id=metadata.id,
        version=metadata.version,
        labels=dict(metadata.labels),
        phase=metadata.phase.value,
        created=_timestamp(metadata.created),
        updated=_timestamp(metadata.updated),
        finalizers=metadata.finalizers,
    )


def _timestamp(nanos: int | None) -> Timestamp | None:
    if nanos is None:
        return None
    timestamp = Timestamp()
    timestamp.FromNanoseconds(nanos)
    return timestamp
