"""Tables as talosctl prints them: NAMESPACE TYPE ID VERSION, then the type's print columns."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import zip_longest
from typing import TextIO

from cosid.cli.document import parsed_spec
from cosid.cli.jsonpath import compile_path, render
from cosid.client.definitions import TypeDefinition
from cosid.state.codec import version_to_wire
from cosid.state.resource import Resource

COLUMN_GAP = 3


class TableLayout:
    """The columns of one type's table; print column paths are compiled once, up front."""

    def __init__(self, definition: TypeDefinition) -> None:
        self._display_type = definition.display_type
        self._columns = [
            (c.name.upper(), compile_path(c.json_path)) for c in definition.print_columns
        ]

    def header(self) -> list[str]:
        return ["NAMESPACE", "TYPE", "ID", "VERSION", *(name for name, _ in self._columns)]

    def row(self, resource: Resource) -> list[str]:
        metadata = resource.metadata
        spec = parsed_spec(resource)
        return [
            metadata.namespace,
            self._display_type,
            metadata.id,
            version_to_wire(metadata.version),
            *(render(path.values(spec)) for _, path in self._columns),
        ]


class AlignedWriter:
    """Writes rows padded to the widest cell seen so far, flushing after each write.

    Rows written together (a `get`) align fully; rows written one by one (a `watch`) stay
    aligned unless a later cell is wider, because printed lines cannot be taken back.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._widths: list[int] = []

    def write(self, rows: Sequence[Sequence[str]]) -> None:
        for row in rows:
            lengths = (len(cell) for cell in row)
            self._widths = [max(w) for w in zip_longest(self._widths, lengths, fillvalue=0)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, self._widths, strict=False)]
            self._stream.write((" " * COLUMN_GAP).join(cells).rstrip() + "\n")
        self._stream.flush()
