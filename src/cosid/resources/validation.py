"""Model validation errors as the field violations a client sees (google.rpc.BadRequest)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request: its path (``resource.metadata.id``) and what is wrong."""

    field: str
    description: str


_DESCRIPTIONS = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "string_type": "must be a string",
    "bool_type": "must be a boolean",
}


def field_violations(error: ValidationError, prefix: str = "") -> list[FieldViolation]:
    """One violation per problem; fields are `prefix` plus the model's path (``spec.key``).

    List indexes are written ``[i]`` (``specs[2].value``), as BadRequest field paths are.
    """
    return [
        FieldViolation(field_path(prefix, detail["loc"]), _description(detail))
        for detail in error.errors(include_url=False)
    ]


def field_path(prefix: str, loc: Sequence[int | str]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else part
    return path


def _description(detail: ErrorDetails) -> str:
    if detail["type"] == "value_error":
        # Our validators raise ValueError with a message made for clients; pydantic
        # prefixes it with "Value error, ", which says nothing to them.
        cause = detail.get("ctx", {}).get("error")
        if cause is not None:
            return str(cause)
    return _DESCRIPTIONS.get(detail["type"], detail["msg"])
