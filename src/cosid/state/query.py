"""Label and id queries, evaluated exactly as the COSI reference runtime does.

A resource matches a `ResourceQuery` when its id matches the id regexp (an unanchored RE2
search) and at least one label query matches (no label queries: everything matches). A label
query matches when all of its terms do. A term on a missing label is false, so an inverted
term on a missing label is true; a numeric term that cannot parse both sides is false either
way.
"""

from __future__ import annotations

import re as stdlib_re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import re2

from cosid.state.errors import InvalidQueryError
from cosid.state.resource import Resource

MAX_REGEXP_LENGTH = 4096

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a client's bad pattern is its error, not a line on our stderr


class LabelOp(IntEnum):
    """Values equal the wire enum cosi.resource.LabelTerm.Operation."""

    EXISTS = 0
    EQUAL = 1
    NOT_EXISTS = 2
    IN = 3
    LT = 4
    LTE = 5
    LT_NUMERIC = 6
    LTE_NUMERIC = 7


_SINGLE_VALUE_OPS = {
    LabelOp.EQUAL,
    LabelOp.LT,
    LabelOp.LTE,
    LabelOp.LT_NUMERIC,
    LabelOp.LTE_NUMERIC,
}

_BINARY_MULTIPLIERS = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50}
_DECIMAL_MULTIPLIERS = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_NUMBER_PREFIX = stdlib_re.compile(r"[0-9-]*")


def parse_number(text: str) -> int | None:
    """A number with an optional unit multiplier ("10kg" is 10000, "5GiB" is 5 * 2**30).

    Only the first one or two letters after the digits count, as in the reference runtime.
    """
    text = text.strip()
    digits = _NUMBER_PREFIX.match(text)
    assert digits is not None  # the pattern matches the empty string
    number, suffix = digits.group(), text[digits.end() :].strip().lower()
    try:
        value = int(number, 10)
    except ValueError:
        return None
    if not suffix:
        return value
    multiplier = _BINARY_MULTIPLIERS.get(suffix[:2]) or _DECIMAL_MULTIPLIERS.get(suffix[0])
    return None if multiplier is None else value * multiplier


@dataclass(frozen=True, slots=True)
class LabelTerm:
    key: str
    op: LabelOp = LabelOp.EXISTS
    values: tuple[str, ...] = ()
    invert: bool = False

    def __post_init__(self) -> None:
        if self.op in _SINGLE_VALUE_OPS and not self.values:
            raise InvalidQueryError(f"missing value for label query operator {self.op.name}")

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == LabelOp.NOT_EXISTS:  # deprecated spelling of an inverted EXISTS
            return self.key not in labels
        outcome = self._compare(labels)
        if outcome is None:
            return False
        return outcome != self.invert

    def _compare(self, labels: Mapping[str, str]) -> bool | None:
        value = labels.get(self.key)
        if value is None:
            return False
        match self.op:
            case LabelOp.EXISTS:
                return True
            case LabelOp.EQUAL:
                return value == self.values[0]
            case LabelOp.IN:
                return value in self.values
            case LabelOp.LT:
                return value.encode() < self.values[0].encode()
            case LabelOp.LTE:
                return value.encode() <= self.values[0].encode()
        left, right = parse_number(value), parse_number(self.values[0])
        if left is None or right is None:
            return None
        return left < right if self.op == LabelOp.LT_NUMERIC else left <= right


@dataclass(frozen=True, slots=True)
class LabelQuery:
    terms: tuple[LabelTerm, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(term.matches(labels) for term in self.terms)


class IDQuery:
    """An RE2 regular expression searched (not anchored) in resource ids: linear time always."""

    def __init__(self, pattern: str) -> None:
        if len(pattern) > MAX_REGEXP_LENGTH:
            raise InvalidQueryError(f"regexp is too long: {len(pattern)} > {MAX_REGEXP_LENGTH}")
        try:
            self._regexp = re2.compile(pattern, _RE2_OPTIONS)
        except re2.error as err:
            reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else err
            raise InvalidQueryError(f"failed to compile regexp {pattern!r}: {reason}") from None
        self.pattern = pattern

    def matches(self, resource_id: str) -> bool:
        return self._regexp.search(resource_id) is not None

    def __repr__(self) -> str:
        return f"IDQuery({self.pattern!r})"


@dataclass(frozen=True, slots=True)
class ResourceQuery:
    """What List and kind Watch filter on: label queries OR-ed, then AND-ed with the id query."""

    label_queries: Sequence[LabelQuery] = field(default_factory=tuple)
    id_query: IDQuery | None = None

    def matches(self, resource: Resource) -> bool:
        metadata = resource.metadata
        if self.id_query is not None and not self.id_query.matches(metadata.id):
            return False
        if not self.label_queries:
            return True
        return any(query.matches(metadata.labels) for query in self.label_queries)


MATCH_ALL = ResourceQuery()
