"""What a request asks to touch, read from the message alone: the resource key on the audit line
of a call refused before its handler ran (a handler binds what it touched itself).

State requests name their resources (`namespace`, `type`, `id` in the request or in the
metadata of the resource it carries); a typed service's request names only ids, of the kind
its domain serves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Final

from google.protobuf.message import Message
from pydantic import ValidationError

from cosid.resources.catalog import TYPED_APIS
from cosid.resources.typed import TypedApi
from cosid.state.resource import Kind, Pointer

_TYPED_BY_SERVICE: Final[Mapping[str, TypedApi]] = {
    api.service.full_name: api for api in TYPED_APIS
}

AuditFields = dict[str, object]


def requested_resources(service: str, request: object) -> AuditFields:
    """`resource` (namespace/type/id, or namespace/type for a kind or a batch) and, for a
    batch, its `ids`; nothing for a request that names none or cannot be decoded."""
    if not isinstance(request, Message):
        return {}
    api = _TYPED_BY_SERVICE.get(service)
    if api is not None:
        return _typed(api, request)
    named = _naming(request)
    if named is None:
        return {}
    namespace: str = named.namespace  # type: ignore[attr-defined]
    type_: str = named.type  # type: ignore[attr-defined]
    return {"resource": _key(Kind(namespace, type_), getattr(named, "id", ""))}


def _key(kind: Kind, id: str) -> str:
    return str(Pointer(kind.namespace, kind.type, id)) if id else str(kind)


def _naming(message: Message) -> Message | None:
    """The first message, breadth first from `message`, with a namespace and a type."""
    queue = deque([message])
    while queue:
        current = queue.popleft()
        fields = current.DESCRIPTOR.fields_by_name
        if "namespace" in fields and "type" in fields:
            return current
        queue.extend(value for _, value in current.ListFields() if isinstance(value, Message))
    return None


def _typed(api: TypedApi, request: Message) -> AuditFields:
    kind = api.specs
    if "items" in request.DESCRIPTOR.fields_by_name:  # Apply
        items = request.items  # type: ignore[attr-defined]
        ids = [id for item in items if (id := _item_id(api, item))]
        return {"resource": str(kind), "ids": ids}
    return {"resource": _key(kind, getattr(request, "id", ""))}


def _item_id(api: TypedApi, item: Message) -> str:
    """An Apply item's id: its metadata's, or its spec's (the model derives it); "" when the
    spec is not valid either."""
    id: str = item.metadata.id  # type: ignore[attr-defined]
    if id or not item.HasField("spec"):
        return id
    try:
        return str(api.spec_from_message(item.spec).id)  # type: ignore[attr-defined]
    except ValidationError:
        return ""
