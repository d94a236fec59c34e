"""A domain's resource as its typed service shows it: the spec, with its status and condition.

Spec, status and condition are three COSI resources (the spec in the domain's namespace,
status and condition in `runtime`); a view joins them by id, reading the latest of each.
"""

from __future__ import annotations

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.resources.document import from_spec
from cosid.resources.typed import TypedApi, message_from_model
from cosid.runtime.conditions import Condition, condition_pointer
from cosid.state.errors import NotFoundError
from cosid.state.resource import Metadata, Pointer, Resource
from cosid.state.state import State


class Views:
    def __init__(self, state: State, api: TypedApi) -> None:
        self._state = state
        self.api = api

    def spec_pointer(self, id: str) -> Pointer:
        return Pointer(self.api.specs.namespace, self.api.specs.type, id)

    def condition_pointer(self, id: str) -> Pointer:
        return condition_pointer(self.api.controller, self.spec_pointer(id))

    def item_of_condition(self, condition_id: str) -> str | None:
        """The spec id a condition is about, if it is this domain's controller's."""
        prefix = self.condition_pointer("").id
        return condition_id.removeprefix(prefix) if condition_id.startswith(prefix) else None

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

    async def current(self, id: str) -> Message | None:
        """The view of the spec stored now under `id`; None when there is none."""
        spec = await self._get(self.spec_pointer(id))
        return None if spec is None else await self.of(spec)

    async def condition(self, id: str) -> Condition | None:
        stored = await self._get(self.condition_pointer(id))
        return None if stored is None else from_spec(Condition, stored.spec)

    async def _get(self, pointer: Pointer) -> Resource | None:
        try:
            return await self._state.get(pointer)
        except NotFoundError:
            return None


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
