"""Every domain's typed API matches its models: the generic conversion relies on it."""

from __future__ import annotations

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from pydantic import BaseModel, ConfigDict

from cosid.daemon.config import Config
from cosid.daemon.domains import build_domains
from cosid.resources import hostname, motd, sysctl
from cosid.resources.catalog import BY_SPEC_TYPE, TYPED_APIS
from cosid.resources.hostname import HostnameSpec
from cosid.resources.motd import MotdStatus
from cosid.resources.sysctl import SysctlSpec
from cosid.resources.typed import TypedApi, model_from_message
from cosid.state.registry import Registry

_DOMAINS = build_domains(Config())
REGISTRY = Registry(_DOMAINS.namespaces, _DOMAINS.definitions)

SHARED_SHAPE = {
    "Get": ("GetRequest", None),
    "List": ("ListRequest", None),
    "Watch": ("WatchRequest", "Event"),
    "Apply": (None, "ApplyResponse"),
    "Delete": ("DeleteRequest", "DeleteResponse"),
}

apis = pytest.mark.parametrize("api", TYPED_APIS, ids=lambda api: api.name)


@apis
def test_proto_fields_are_the_models_fields(api: TypedApi) -> None:
    resource = api.resource_message.DESCRIPTOR
    for part, model in (("spec", api.spec_model), ("status", api.status_model)):
        message = resource.fields_by_name[part].message_type
        assert message is not None
        assert [f.name for f in message.fields] == list(model.model_fields), part


@apis
def test_optional_model_fields_are_optional_in_proto(api: TypedApi) -> None:
    """A field the model lets be None must be able to be unset on the wire, and the reverse."""
    resource = api.resource_message.DESCRIPTOR
    for part, model in (("spec", api.spec_model), ("status", api.status_model)):
        message = resource.fields_by_name[part].message_type
        assert message is not None
        for field in message.fields:
            nullable = not model.model_fields[field.name].is_required() and (
                model.model_fields[field.name].default is None
            )
            assert field.has_presence == nullable or field.type == FieldDescriptor.TYPE_MESSAGE, (
                f"{part}.{field.name}"
            )


@apis
def test_every_service_has_the_shared_shape(api: TypedApi) -> None:
    for method, (request, response) in SHARED_SHAPE.items():
        descriptor = api.service.methods_by_name[method]
        if request is not None:
            assert descriptor.input_type.full_name == f"cosi.common.v1alpha1.{request}"
        if response is not None:
            assert descriptor.output_type.name == response
    assert api.service.methods_by_name["List"].server_streaming
    assert api.service.methods_by_name["Watch"].server_streaming
    assert set(api.service.methods_by_name) == set(SHARED_SHAPE)


def test_spec_types_name_one_api_each() -> None:
    assert {api.specs.type for api in TYPED_APIS} == set(BY_SPEC_TYPE)
    assert len({api.controller for api in TYPED_APIS}) == len(TYPED_APIS)


def test_a_round_trip_through_the_message_keeps_the_model() -> None:
    spec = SysctlSpec(key="net/ipv4/ip_forward", value=" 1\n", ignore_errors=True)
    assert sysctl.API.spec_from_message(sysctl.API.spec_message(spec)) == spec
    status = MotdStatus(exists=False)
    message = motd.API.status_message(status)
    assert not message.HasField("sha256")
    assert model_from_message(MotdStatus, message) == status


class _Anything(BaseModel):
    model_config = ConfigDict(extra="allow")


@apis
def test_a_spec_message_reads_as_its_json_form_does(api: TypedApi) -> None:
    """Messages of plain scalars are read without the JSON printer: to the same data."""
    message = api.spec_message_class()
    as_json = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    assert model_from_message(_Anything, message).model_extra == as_json


def test_an_unset_optional_field_takes_the_models_default() -> None:
    without = hostname.API.spec_message_class(hostname="node")
    with_domain = hostname.API.spec_message_class(hostname="node", domain="example.org")
    assert model_from_message(HostnameSpec, without) == HostnameSpec(hostname="node")
    assert model_from_message(HostnameSpec, with_domain).domain == "example.org"


@apis
def test_a_spec_type_answers_to_its_resource_name(api: TypedApi) -> None:
    """`cosictl get kernelmodule`, `metadata: {type: mount}`: what output calls a domain's
    resources (``kernelmodule/dummy``) is a name its spec type resolves from."""
    [definition] = [d for d in REGISTRY.definitions.values() if d.type == api.specs.type]
    assert api.name.lower() in definition.all_aliases
