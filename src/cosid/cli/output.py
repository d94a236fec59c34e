"""The three output formats: a table, YAML documents, JSON lines.

`get` hands over all resources at once (so a table aligns), `watch` one event at a time (each
flushed at once, so a pipe sees it as it happens).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Protocol, TextIO

import yaml

from cosid.cli.document import Document, resource_document
from cosid.cli.table import AlignedWriter, TableLayout
from cosid.client.definitions import TypeDefinition
from cosid.state.events import EventType
from cosid.state.resource import Resource

EVENT_COLUMN_WIDTH = len(EventType.DESTROYED.name)
"""The widest event name a watch prints, reserved from the start so rows stay aligned."""


class Output(Protocol):
    def resources(self, resources: Sequence[Resource]) -> None: ...

    def event(self, event_type: EventType, resource: Resource) -> None: ...


class TableOutput:
    """A header, then a row per resource; a watch adds a leading EVENT column."""

    def __init__(self, definition: TypeDefinition, stream: TextIO) -> None:
        self._layout = TableLayout(definition)
        self._writer = AlignedWriter(stream)
        self._started = False

    def resources(self, resources: Sequence[Resource]) -> None:
        self._write(self._layout.header(), [self._layout.row(r) for r in resources])

    def event(self, event_type: EventType, resource: Resource) -> None:
        row = [event_type.name.ljust(EVENT_COLUMN_WIDTH), *self._layout.row(resource)]
        self._write(["EVENT", *self._layout.header()], [row])

    def _write(self, header: list[str], rows: list[list[str]]) -> None:
        self._writer.write(rows if self._started else [header, *rows])
        self._started = True


class DocumentOutput:
    """One document per resource; a watch's documents start with an `event` key."""

    def __init__(self, serialize: Callable[[Document], str], stream: TextIO) -> None:
        self._serialize = serialize
        self._stream = stream

    def resources(self, resources: Sequence[Resource]) -> None:
        for resource in resources:
            self._stream.write(self._serialize(resource_document(resource)))
        self._stream.flush()

    def event(self, event_type: EventType, resource: Resource) -> None:
        document = {"event": event_type.name, **resource_document(resource)}
        self._stream.write(self._serialize(document))
        self._stream.flush()


def _yaml_document(document: Document) -> str:
    return yaml.safe_dump(document, sort_keys=False, explicit_start=True, allow_unicode=True)


def _json_line(document: Document) -> str:
    return json.dumps(_json_ready(document), ensure_ascii=False, default=str) + "\n"


def _json_ready(value: object) -> object:
    """YAML allows mapping keys that JSON does not (dates, numbers): they become their text.
    Values JSON lacks (dates, sets) are left to `default=str`."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    return value


FORMATS = ("table", "yaml", "json")


def open_output(output_format: str, definition: TypeDefinition, stream: TextIO) -> Output:
    """The output for one of FORMATS; the definition gives a table its type's columns."""
    if output_format == "table":
        return TableOutput(definition, stream)
    return DocumentOutput(_yaml_document if output_format == "yaml" else _json_line, stream)
