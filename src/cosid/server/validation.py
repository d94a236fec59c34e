"""Edge validation: wire requests become store values here, or every bad field is named.

The store trusts what it is given; this is the only door from the network into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import yaml
from pydantic import ValidationError

from cosid.api.cosi.resource import resource_pb2, state_pb2
from cosid.resources.document import from_spec
from cosid.resources.validation import FieldViolation, field_path, field_violations
from cosid.server.errors import InvalidArgumentError
from cosid.server.limits import Limits
from cosid.state.codec import CodecError, metadata_from_wire
from cosid.state.errors import InvalidQueryError
from cosid.state.query import IDQuery, LabelOp, LabelQuery, LabelTerm, ResourceQuery
from cosid.state.registry import ResourceDefinition
from cosid.state.resource import Kind, Pointer, Resource, Spec


class Violations:
    """Collects every problem of a request before answering, so one round trip names them all."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def text(self, field: str, value: str, max_length: int, *, required: bool = True) -> None:
        """Names and ids: non-empty when required, bounded, and free of control characters."""
        if not value:
            if required:
                self.add(field, "must not be empty")
            return
        if len(value) > max_length:
            self.add(field, f"is {len(value)} characters long, the limit is {max_length}")
        elif not value.isprintable():
            self.add(field, "must not contain control characters")

    def count(self, field: str, count: int, limit: int) -> None:
        if count > limit:
            self.add(field, f"has {count} entries, the limit is {limit}")

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgumentError(self.items)


def check_kind(violations: Violations, namespace: str, type_: str, limits: Limits) -> Kind:
    violations.text("namespace", namespace, limits.max_name_length)
    violations.text("type", type_, limits.max_name_length)
    return Kind(namespace, type_)


def pointer_from_request(namespace: str, type_: str, id_: str, limits: Limits) -> Pointer:
    violations = Violations()
    check_kind(violations, namespace, type_, limits)
    violations.text("id", id_, limits.max_id_length)
    violations.raise_if_any()
    return Pointer(namespace, type_, id_)


def kind_from_request(namespace: str, type_: str, limits: Limits) -> Kind:
    violations = Violations()
    kind = check_kind(violations, namespace, type_, limits)
    violations.raise_if_any()
    return kind


def owner_from_request(owner: str, field: str, limits: Limits) -> str:
    violations = Violations()
    violations.text(field, owner, limits.max_name_length, required=False)
    violations.raise_if_any()
    return owner


def resource_from_request(
    message: resource_pb2.Resource, field: str, limits: Limits, *, owner_field: str | None = None
) -> Resource:
    """A wire resource checked against every limit; `field` prefixes the violation names."""
    violations = Violations()
    if not message.HasField("metadata"):
        violations.add(f"{field}.metadata", "is required")
        violations.raise_if_any()
    wire = message.metadata
    prefix = f"{field}.metadata"
    violations.text(f"{prefix}.namespace", wire.namespace, limits.max_name_length)
    violations.text(f"{prefix}.type", wire.type, limits.max_name_length)
    violations.text(f"{prefix}.id", wire.id, limits.max_id_length)
    violations.text(f"{prefix}.owner", wire.owner, limits.max_name_length, required=False)
    check_labels(violations, f"{prefix}.labels", wire.labels, limits)
    _check_annotations(violations, f"{prefix}.annotations", wire.annotations, limits)
    _check_finalizers(violations, f"{prefix}.finalizers", wire.finalizers, limits)
    spec_size = len(message.spec.proto_spec) + len(message.spec.yaml_spec.encode())
    if spec_size > limits.max_spec_bytes:
        violations.add(
            f"{field}.spec", f"is {spec_size} bytes, the limit is {limits.max_spec_bytes}"
        )
    try:
        metadata = metadata_from_wire(wire)
    except CodecError as error:
        violations.add(f"{prefix}.{error.field.removeprefix('metadata.')}", error.message)
    violations.raise_if_any()
    return Resource(metadata, Spec(message.spec.proto_spec, message.spec.yaml_spec))


def check_labels(
    violations: Violations, field: str, labels: Mapping[str, str], limits: Limits
) -> None:
    violations.count(field, len(labels), limits.max_labels)
    for key, value in labels.items():
        violations.text(f"{field}[{key[:64]!r}]", key, limits.max_name_length)
        if len(value) > limits.max_label_value_length:
            limit = limits.max_label_value_length
            violations.add(
                f"{field}[{key[:64]!r}]",
                f"value is {len(value)} characters long, the limit is {limit}",
            )


def _check_annotations(
    violations: Violations, field: str, annotations: Mapping[str, str], limits: Limits
) -> None:
    violations.count(field, len(annotations), limits.max_annotations)
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > limits.max_annotation_bytes:
        violations.add(field, f"are {size} bytes, the limit is {limits.max_annotation_bytes}")
    for key in annotations:
        violations.text(f"{field}[{key[:64]!r}]", key, limits.max_name_length)


def _check_finalizers(
    violations: Violations, field: str, finalizers: Iterable[str], limits: Limits
) -> None:
    finalizers = list(finalizers)
    violations.count(field, len(finalizers), limits.max_finalizers)
    for index, finalizer in enumerate(finalizers):
        violations.text(f"{field}[{index}]", finalizer, limits.max_name_length)


def query_from_request(
    label_queries: Iterable[resource_pb2.LabelQuery],
    id_query: resource_pb2.IDQuery,
    field: str,
    limits: Limits,
) -> ResourceQuery:
    """Label queries (OR-ed) and an optional id regexp; `field` is the options' name."""
    violations = Violations()
    queries: list[LabelQuery] = []
    terms_seen = 0
    for q_index, wire_query in enumerate(label_queries):
        terms: list[LabelTerm] = []
        for t_index, wire_term in enumerate(wire_query.terms):
            terms_seen += 1
            term_field = field_path(field, ("label_query", q_index, "terms", t_index))
            try:
                op = LabelOp(wire_term.op)
                terms.append(LabelTerm(wire_term.key, op, tuple(wire_term.value), wire_term.invert))
            except ValueError:
                violations.add(f"{term_field}.op", f"unknown operator {wire_term.op}")
            except InvalidQueryError as error:
                violations.add(f"{term_field}.value", str(error))
            violations.text(f"{term_field}.key", wire_term.key, limits.max_name_length)
        queries.append(LabelQuery(tuple(terms)))
    violations.count(field_path(field, ("label_query",)), terms_seen, limits.max_label_terms)
    compiled: IDQuery | None = None
    if id_query.regexp:
        try:
            compiled = IDQuery(id_query.regexp)
        except InvalidQueryError as error:
            violations.add(field_path(field, ("id_query", "regexp")), str(error))
    violations.raise_if_any()
    return ResourceQuery(tuple(queries), compiled)


def check_single_watch_options(options: state_pb2.WatchOptions) -> None:
    """Options only a kind watch can use, refused on a watch of one resource."""
    violations = Violations()
    for field, used in (
        ("options.bootstrap_contents", options.bootstrap_contents),
        ("options.label_query", bool(options.label_query)),
        ("options.id_query", bool(options.id_query.regexp)),
    ):
        if used:
            violations.add(field, "applies to kind watches only (requests without an id)")
    violations.raise_if_any()


def check_spec(definition: ResourceDefinition | None, resource: Resource, field: str) -> None:
    """A built-in spec must be what its model accepts, stored under the id the spec names."""
    if definition is None or definition.spec_model is None:
        return
    spec_field = f"{field}.spec.yaml_spec"
    try:
        model = from_spec(definition.spec_model, resource.spec)
    except yaml.YAMLError:
        raise InvalidArgumentError([FieldViolation(spec_field, "is not valid YAML")]) from None
    except ValidationError as error:
        raise InvalidArgumentError(field_violations(error, spec_field)) from None
    expected_id = getattr(model, "id", None)
    if isinstance(expected_id, str) and expected_id != resource.metadata.id:
        violation = FieldViolation(
            f"{field}.metadata.id", f"must be {expected_id!r}, as the spec says"
        )
        raise InvalidArgumentError([violation])
