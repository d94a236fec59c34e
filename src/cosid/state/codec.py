"""Conversion between the store's model and the COSI wire form (cosi.resource.Resource).

Used by the gRPC service at the edge and by the durable journal, which stores the wire form
so that what a client sent round-trips byte for byte.
"""

from __future__ import annotations

from typing import Literal

from google.protobuf.timestamp_pb2 import Timestamp

from cosid.api.cosi.resource import resource_pb2, state_pb2
from cosid.state.events import Event, EventType
from cosid.state.query import LabelQuery
from cosid.state.resource import UNDEFINED_VERSION, Metadata, Phase, Resource, Spec

UNDEFINED_VERSION_TEXT = "undefined"


class CodecError(ValueError):
    """A wire resource that cannot be represented; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def version_to_wire(version: int) -> str:
    return UNDEFINED_VERSION_TEXT if version == UNDEFINED_VERSION else str(version)


def version_from_wire(text: str, field: str = "metadata.version") -> int:
    if text in ("", UNDEFINED_VERSION_TEXT):
        return UNDEFINED_VERSION
    if not text.isascii() or not text.isdigit():
        raise CodecError(field, f"version {text!r} is not a decimal number")
    version = int(text)
    if version >= 2**64:
        raise CodecError(field, f"version {text!r} does not fit in 64 bits")
    return version


def phase_from_wire(text: str, field: str = "metadata.phase") -> Phase:
    if text == "":
        return Phase.RUNNING
    try:
        return Phase(text)
    except ValueError:
        phases = ", ".join(p.value for p in Phase)
        raise CodecError(field, f"phase {text!r} is not one of {phases}") from None


def _timestamp_to_wire(nanos: int | None, into: Timestamp) -> None:
    if nanos is not None:
        into.FromNanoseconds(nanos)


def _timestamp_from_wire(
    msg: resource_pb2.Metadata, name: Literal["created", "updated"]
) -> int | None:
    if not msg.HasField(name):
        return None
    try:
        return int(getattr(msg, name).ToNanoseconds())
    except (ValueError, OverflowError):
        raise CodecError(f"metadata.{name}", "is not a time between years 1 and 9999") from None


def metadata_to_wire(metadata: Metadata) -> resource_pb2.Metadata:
    msg = resource_pb2.Metadata(
        namespace=metadata.namespace,
        type=metadata.type,
        id=metadata.id,
        version=version_to_wire(metadata.version),
        owner=metadata.owner,
        phase=metadata.phase.value,
        finalizers=metadata.finalizers,
        labels=metadata.labels,
        annotations=metadata.annotations,
    )
    _timestamp_to_wire(metadata.created, msg.created)
    _timestamp_to_wire(metadata.updated, msg.updated)
    return msg


def metadata_from_wire(msg: resource_pb2.Metadata) -> Metadata:
    return Metadata(
        namespace=msg.namespace,
        type=msg.type,
        id=msg.id,
        version=version_from_wire(msg.version),
        owner=msg.owner,
        phase=phase_from_wire(msg.phase),
        created=_timestamp_from_wire(msg, "created"),
        updated=_timestamp_from_wire(msg, "updated"),
        finalizers=tuple(msg.finalizers),
        labels=dict(msg.labels),
        annotations=dict(msg.annotations),
    )


def resource_to_wire(resource: Resource) -> resource_pb2.Resource:
    return resource_pb2.Resource(
        metadata=metadata_to_wire(resource.metadata),
        spec=resource_pb2.Spec(proto_spec=resource.spec.proto, yaml_spec=resource.spec.yaml),
    )


def resource_from_wire(msg: resource_pb2.Resource) -> Resource:
    return Resource(
        metadata_from_wire(msg.metadata),
        Spec(proto=msg.spec.proto_spec, yaml=msg.spec.yaml_spec),
    )


def resource_to_bytes(resource: Resource) -> bytes:
    return resource_to_wire(resource).SerializeToString(deterministic=True)


def resource_from_bytes(data: bytes) -> Resource:
    return resource_from_wire(resource_pb2.Resource.FromString(data))


def label_query_to_wire(query: LabelQuery) -> resource_pb2.LabelQuery:
    """Clients send queries this way; the daemon reads them back with full validation
    (`cosid.server.validation.query_from_request`), so there is no lenient reverse here."""
    return resource_pb2.LabelQuery(
        terms=[
            resource_pb2.LabelTerm(
                key=term.key,
                op=resource_pb2.LabelTerm.Operation.ValueType(term.op.value),
                value=term.values,
                invert=term.invert,
            )
            for term in query.terms
        ],
    )


def event_to_wire(event: Event) -> state_pb2.Event:
    wire = state_pb2.Event(event_type=state_pb2.EventType.ValueType(event.type.value))
    if event.resource is not None:
        wire.resource.CopyFrom(resource_to_wire(event.resource))
    if event.old is not None:
        wire.old.CopyFrom(resource_to_wire(event.old))
    if event.bookmark is not None:
        wire.bookmark = event.bookmark
    if event.error is not None:
        wire.error = event.error
    return wire


def event_from_wire(wire: state_pb2.Event) -> Event:
    return Event(
        EventType(wire.event_type),
        resource_from_wire(wire.resource) if wire.HasField("resource") else None,
        resource_from_wire(wire.old) if wire.HasField("old") else None,
        wire.bookmark if wire.HasField("bookmark") else None,
        wire.error if wire.HasField("error") else None,
    )
