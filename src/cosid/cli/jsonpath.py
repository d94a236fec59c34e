"""The JSONPath subset that print columns use: `{.a.b}`, `{.a[:]}` and `{.a[0]}`.

Resource definitions carry kubectl-style JSONPath; cosictl evaluates it on the parsed YAML
spec. Anything beyond this subset is refused when the path is compiled, never guessed at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_STEP = re.compile(r"\.([A-Za-z0-9_-]+)|\[(-?[0-9]+|:)\]")

Step = str | int | None
"""A key into a mapping, an index into a list, or None for every item of a list (`[:]`)."""


class JsonPathError(ValueError):
    """A path outside the supported subset."""


@dataclass(frozen=True, slots=True)
class JsonPath:
    expression: str
    steps: tuple[Step, ...]

    def values(self, document: object) -> list[object]:
        """Every value the path reaches; none when a key or index is missing."""
        found = [document]
        for step in self.steps:
            found = [value for item in found for value in _follow(item, step)]
        return found


def _follow(item: object, step: Step) -> list[object]:
    if isinstance(step, str):
        return [item[step]] if isinstance(item, dict) and step in item else []
    if not isinstance(item, list):
        return []
    if step is None:
        return list(item)
    return [item[step]] if -len(item) <= step < len(item) else []


def compile_path(expression: str) -> JsonPath:
    body = expression.strip()
    if not (body.startswith("{") and body.endswith("}")) or len(body) < 3:
        raise JsonPathError(f"JSONPath {expression!r}: expected {{.field...}}")
    body = body[1:-1]
    steps: list[Step] = []
    position = 0
    while position < len(body):
        match = _STEP.match(body, position)
        if match is None:
            raise JsonPathError(
                f"JSONPath {expression!r}: unsupported at {body[position:]!r} "
                "(only .field, [index] and [:])"
            )
        key, index = match.groups()
        steps.append(key if key is not None else None if index == ":" else int(index))
        position = match.end()
    return JsonPath(expression, tuple(steps))


def render(values: list[object]) -> str:
    """Values as kubectl prints them: space-separated, scalars bare, structures as JSON."""
    return " ".join(_text(value) for value in values)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)
