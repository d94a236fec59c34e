"""How a domain's resources are served by its typed gRPC service (cosi.<domain>.v1alpha1).

Every domain's proto package has the same shape (see proto/cosi/common/v1alpha1): a resource
message with ``metadata``, ``spec``, ``status`` and ``condition``, an ``Event``, an
``ApplyRequest``/``ApplyResponse``, and a service with Get, List, Watch, Apply and Delete. A
`TypedApi` ties one such service to the domain's COSI types and pydantic models, so one
generic servicer (and one client) serves every domain.

The proto spec and status messages have the models' field names, so converting is generic:
proto -> JSON-shaped dict -> model validation (the one place validation lives), and back.

A rule that depends on the daemon's configuration (which mount targets are denied) cannot be
in a model: it is an `Admission`, built with the configuration and checked at the edge right
after the model, by the typed service and the State service alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from pydantic import BaseModel

from cosid.resources.validation import FieldViolation
from cosid.state.query import LabelQuery
from cosid.state.resource import Kind

Model = TypeVar("Model", bound=BaseModel)
ProtoMessage = TypeVar("ProtoMessage", bound=Message)


class SpecModel(Protocol):
    """A spec model names its resource's id (the sysctl key, ``hostname``...)."""

    @property
    def id(self) -> str: ...


@dataclass(frozen=True)
class TypedApi:
    """One domain's typed service and the COSI types and models behind it."""

    service: ServiceDescriptor
    specs: Kind
    statuses: Kind
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    controller: str
    """The controller that makes specs true: its conditions are the specs' conditions."""
    observed_query: LabelQuery = field(default_factory=LabelQuery)
    """What a List of what the node has (`observed`) selects when the request has no label
    query of its own: routes of the main table, as `ip route` shows; everything by default."""

    def request_message(self, method: str) -> type[Message]:
        """The request message class of one of the service's methods (``Apply``...)."""
        return GetMessageClass(self.service.methods_by_name[method].input_type)

    def response_message(self, method: str) -> type[Message]:
        """The response message class (of each streamed message, for List and Watch)."""
        return GetMessageClass(self.service.methods_by_name[method].output_type)

    @property
    def resource_message(self) -> type[Message]:
        """The domain's resource message (``Sysctl``): metadata, spec, status, condition."""
        return self.response_message("Get")

    @property
    def event_message(self) -> type[Message]:
        return self.response_message("Watch")

    @property
    def apply_response_message(self) -> type[Message]:
        return self.response_message("Apply")

    @property
    def spec_message_class(self) -> type[Message]:
        return self._field_message("spec")

    @property
    def name(self) -> str:
        """The resource message's name (``Sysctl``), what users call the domain's resources."""
        return self.resource_message.DESCRIPTOR.name

    def spec_from_message(self, message: Message) -> BaseModel:
        """The validated spec model; pydantic's ValidationError names every bad field."""
        return model_from_message(self.spec_model, message)

    def resource(self, **fields: Any) -> Message:
        """A resource message from its parts (metadata, spec, status, condition messages)."""
        return self.resource_message(**fields)

    def spec_message(self, model: BaseModel) -> Message:
        return message_from_model(self.spec_message_class, model)

    def status_message(self, model: BaseModel) -> Message:
        return message_from_model(self._field_message("status"), model)

    def _field_message(self, name: str) -> type[Message]:
        descriptor = self.resource_message.DESCRIPTOR.fields_by_name[name].message_type
        assert descriptor is not None, f"{self.name}.{name} is not a message field"
        return GetMessageClass(descriptor)  # type: ignore[arg-type]  # upb's is the same type


@dataclass(frozen=True)
class Admission(Generic[Model]):
    """A rule on the specs of one kind that the daemon's configuration makes, checked after the
    spec's model accepted it and before anything is stored: what it refuses is INVALID_ARGUMENT
    naming the field, so a spec the daemon would never act on is not stored at all."""

    specs: Kind
    spec_model: type[Model]
    check: Callable[[Model], Iterable[FieldViolation]]
    """The spec's violations, each naming a field of the spec (``target``)."""

    def violations(self, spec: BaseModel, prefix: str) -> list[FieldViolation]:
        """The violations of a validated spec, named below `prefix` (``items[0].spec``)."""
        if not isinstance(spec, self.spec_model):
            raise TypeError(f"{self.specs} is admitted as {self.spec_model.__name__}")
        return [
            FieldViolation(f"{prefix}.{found.field}", found.description)
            for found in self.check(spec)
        ]


def model_from_message(model_type: type[Model], message: Message) -> Model:
    """Fields without presence are always given (an empty key is "must not be empty", not
    "missing"); an unset optional field is left out, so the model's default applies."""
    scalars = _scalar_fields(message.DESCRIPTOR)
    if scalars is None:
        data = json_format.MessageToDict(
            message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    else:  # what MessageToDict gives for these, without its printer (an Apply's every item)
        data = {
            name: getattr(message, name)
            for name, has_presence in scalars
            if not has_presence or message.HasField(name)
        }
    return model_type.model_validate(data)


_PLAIN_SCALARS = frozenset(
    {
        FieldDescriptor.TYPE_STRING,
        FieldDescriptor.TYPE_BOOL,
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_SINT32,
    }
)
"""Field types whose Python value is also their JSON form (64-bit integers are strings in
JSON, enums names, floats may be "NaN")."""


@functools.cache
def _scalar_fields(descriptor: Descriptor) -> tuple[tuple[str, bool], ...] | None:
    """(name, has presence) of each field of a message made only of single plain scalars;
    None for any other message (nested, repeated, enum...), read by MessageToDict."""
    fields = descriptor.fields
    if any(described.type not in _PLAIN_SCALARS or described.is_repeated for described in fields):
        return None
    return tuple((described.name, described.has_presence) for described in fields)


def message_from_model(message_type: type[ProtoMessage], model: BaseModel) -> ProtoMessage:
    """The message's constructor takes the model's fields as they are (scalars, lists, and
    dicts for nested messages); None stays unset. Eight times faster than json_format, and
    every view of every List, Watch and Apply goes through here."""
    return message_type(**model.model_dump(mode="json", exclude_none=True))
