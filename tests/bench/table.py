"""The benchmark's one table: aligned text, a goal and a pass/fail marker where there is a goal."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    measurement: str
    result: str
    cpu: str = ""
    """Share of a core used by the server / by the load generator while measuring."""
    goal: str = ""
    passed: bool | None = None
    """None where there is no goal."""

    @property
    def marker(self) -> str:
        if self.passed is None:
            return ""
        return "pass" if self.passed else "FAIL"

    def cells(self) -> list[str]:
        return [self.measurement, self.result, self.cpu, self.goal, self.marker]


@dataclass(frozen=True)
class Section:
    title: str
    rows: Sequence[Row]


HEADER = Row("Measurement", "Result", "CPU server/load", "Goal")
RIGHT_ALIGNED = {1}
"""Results line up on their units."""


def render(sections: Sequence[Section]) -> str:
    indented = [
        [dataclasses.replace(row, measurement=f"  {row.measurement}") for row in section.rows]
        for section in sections
    ]
    everything = [HEADER, *(row for rows in indented for row in rows)]
    widths = [max(len(row.cells()[column]) for row in everything) for column in range(5)]

    def line(row: Row) -> str:
        cells = [
            cell.rjust(width) if column in RIGHT_ALIGNED else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row.cells(), widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [line(HEADER), rule]
    for section, rows in zip(sections, indented, strict=True):
        lines.append(section.title)
        lines.extend(line(row) for row in rows)
    lines.append(rule)
    return "\n".join(lines)
