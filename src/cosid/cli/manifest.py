"""Manifests: YAML documents in the shape `cosictl get -o yaml` prints, read back as typed items.

A document is ``{metadata: {type, id, version, labels, ...}, spec: {...}}``. Only `type`
(required), `id`, `version` (the expected version; null or 0: any) and `labels` are used; the
other keys `get -o yaml` prints (namespace, owner, phase, timestamps, annotations, finalizers)
are accepted and ignored, so its output can be applied again. Any other key is refused: a
misspelled `lables` must not silently drop the labels.

Checked here is only what the daemon cannot see once a document became a proto message: the
document's shape and the spec's fields and their types. What the values mean is the daemon's
to judge, in one place for every client.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.resources.typed import TypedApi

STDIN: Final = "-"
"""The file name that stands for standard input."""

DOCUMENT_KEYS: Final = frozenset({"metadata", "spec"})
IGNORED_METADATA: Final = frozenset(
    {"namespace", "owner", "phase", "created", "updated", "annotations", "finalizers"}
)
"""What `get -o yaml` prints that the daemon decides itself (the namespace is the domain's)."""
USED_METADATA: Final = frozenset({"type", "id", "version", "labels"})


class ManifestError(ValueError):
    """A manifest that cannot be read or a document that cannot become an item; the message
    names the file, the document and the key."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where a document is: its file and its 1-based position in that file's stream."""

    source: str
    index: int

    def __str__(self) -> str:
        return f"{self.source}: document {self.index}"

    def error(self, key: str, problem: str) -> ManifestError:
        return ManifestError(f"{self}: {key}: {problem}")


@dataclass(frozen=True, slots=True)
class ManifestDocument:
    """One document, its shape checked; the spec is still YAML data (its type is not known
    until `type_name` is resolved)."""

    location: Location
    type_name: str
    id: str
    version: int
    """The expected version; 0: any."""
    labels: Mapping[str, str]
    spec: Mapping[str, object]


def read_manifest(path: str) -> list[ManifestDocument]:
    """The documents of a file, or of stdin for `-`; empty documents are skipped."""
    source = "stdin" if path == STDIN else path
    try:
        text = sys.stdin.read() if path == STDIN else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"cannot read {source}: {error}") from None
    return parse_manifest(text, source)


def parse_manifest(text: str, source: str) -> list[ManifestDocument]:
    stream = io.StringIO(text)
    stream.name = source  # what YAML's syntax errors call the file
    try:
        loaded = list(yaml.safe_load_all(stream))
    except yaml.YAMLError as error:
        raise ManifestError(f"{source}: not valid YAML: {error}") from None
    documents = [
        parse_document(Location(source, index), data)
        for index, data in enumerate(loaded, start=1)
        if data is not None
    ]
    if not documents:
        raise ManifestError(f"{source}: no documents")
    return documents


def parse_document(location: Location, data: object) -> ManifestDocument:
    if not isinstance(data, dict):
        raise ManifestError(f"{location}: must be a mapping with metadata and spec")
    _refuse_unknown_keys(location, "", data, DOCUMENT_KEYS)
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        raise location.error("metadata", "is required, a mapping with at least type")
    _refuse_unknown_keys(location, "metadata.", metadata, USED_METADATA | IGNORED_METADATA)
    spec = data.get("spec")
    if not isinstance(spec, dict):
        raise location.error("spec", "is required, a mapping of the spec's fields")
    type_name = _metadata_text(location, metadata, "type")
    if not type_name:
        raise location.error("metadata.type", "is required (a type, short name or alias)")
    return ManifestDocument(
        location,
        type_name,
        _metadata_text(location, metadata, "id"),
        _version(location, metadata.get("version")),
        _labels(location, metadata.get("labels")),
        {str(key): value for key, value in spec.items()},
    )


def item_message(api: TypedApi, document: ManifestDocument) -> Message:
    """The domain's resource message that applies `document`."""
    metadata = common_pb2.ObjectMeta(
        id=document.id, version=document.version, labels=document.labels
    )
    item = api.resource(metadata=metadata)
    spec: Message = item.spec  # type: ignore[attr-defined]  # every resource message has one
    spec.SetInParent()  # `spec: {}` is sent as a spec, for the daemon to name what it lacks
    _fill_spec(document, spec)
    return item


def _fill_spec(document: ManifestDocument, spec: Message) -> None:
    """Set the spec's fields; a number for a text field becomes its text (`value: 1`), in
    nested messages, lists and maps too."""
    descriptor: Descriptor = spec.DESCRIPTOR  # type: ignore[assignment]  # upb's is the same type
    converted = _fields(document.location, "spec", descriptor, document.spec)
    try:
        json_format.ParseDict(converted, spec)
    except json_format.ParseError as error:
        raise document.location.error("spec", str(error)) from None


def _fields(
    location: Location, key: str, message: Descriptor, data: Mapping[str, object]
) -> dict[str, object]:
    fields = message.fields_by_name
    converted: dict[str, object] = {}
    for name, value in data.items():
        descriptor = fields.get(name)
        if descriptor is None:
            known = ", ".join(fields)
            raise location.error(f"{key}.{name}", f"unknown field ({message.name} has {known})")
        if value is not None:  # YAML null: unset, so the daemon's default applies
            converted[name] = _field(location, f"{key}.{name}", descriptor, value)
    return converted


def _field(location: Location, key: str, field: FieldDescriptor, value: object) -> object:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        if not isinstance(value, dict):
            raise location.error(key, f"must be a mapping, not {_yaml_kind(value)}")
        value_field = entry.fields_by_name["value"]
        return {str(k): _single(location, f"{key}.{k}", value_field, v) for k, v in value.items()}
    if field.is_repeated:
        if not isinstance(value, list):
            raise location.error(key, f"must be a list, not {_yaml_kind(value)}")
        return [_single(location, f"{key}[{i}]", field, item) for i, item in enumerate(value)]
    return _single(location, key, field, value)


def _single(location: Location, key: str, field: FieldDescriptor, value: object) -> object:
    """One value of the field's type: text, a nested message, or as YAML read it."""
    if field.type == FieldDescriptor.TYPE_STRING:
        return _text(location, key, value)
    if field.message_type is not None:
        if not isinstance(value, dict):
            raise location.error(key, f"must be a mapping, not {_yaml_kind(value)}")
        return _fields(location, key, field.message_type, value)
    return value


def _refuse_unknown_keys(
    location: Location, prefix: str, data: Mapping[object, object], known: frozenset[str]
) -> None:
    for key in data:
        if key not in known:
            allowed = ", ".join(sorted(known))
            raise location.error(f"{prefix}{key}", f"unknown key (allowed: {allowed})")


def _metadata_text(location: Location, metadata: Mapping[str, object], key: str) -> str:
    """A text key of the metadata; "" when it is left out (or null)."""
    value = metadata.get(key)
    return "" if value is None else _text(location, f"metadata.{key}", value)


def _version(location: Location, value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise location.error("metadata.version", "must be a version number (or null: any)")
    return value


def _labels(location: Location, value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise location.error("metadata.labels", "must be a mapping of text to text")
    return {
        str(key): _text(location, f"metadata.labels.{key}", label) for key, label in value.items()
    }


def _text(location: Location, key: str, value: object) -> str:
    """Text as YAML writes it: strings as they are, numbers as their digits (YAML reads
    `value: 1` as a number). Anything else is refused, booleans included: was `yes` meant as
    "yes", "true" or "1"?"""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise location.error(key, f"must be text, not {_yaml_kind(value)}")


def _yaml_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
