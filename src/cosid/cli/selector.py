"""`-l`/`--selector`: kubectl's label selector syntax, read as a COSI label query.

``table=main,family=inet`` (every term must hold): ``KEY=VALUE`` (also ``==``), ``KEY!=VALUE``,
``KEY`` (the label exists), ``!KEY`` (it does not).
"""

from __future__ import annotations

from argparse import ArgumentTypeError

from cosid.state.query import LabelOp, LabelQuery, LabelTerm, ResourceQuery

SYNTAX = "KEY=VALUE, KEY!=VALUE, KEY or !KEY, comma-separated"


def parse_selector(text: str) -> ResourceQuery:
    """The query; ArgumentTypeError (argparse prints it) naming the term that is not one."""
    terms = [_term(part.strip()) for part in text.split(",") if part.strip()]
    if not terms:
        raise ArgumentTypeError(
            f"{text!r} selects nothing: give KEY=VALUE, KEY!=VALUE, KEY or !KEY"
        )
    return ResourceQuery((LabelQuery(tuple(terms)),))


def _term(text: str) -> LabelTerm:
    if "!=" in text:
        key, value = (side.strip() for side in text.split("!=", 1))
        term = LabelTerm(key, LabelOp.EQUAL, (value,), invert=True)
    elif "=" in text:
        key, value = (side.strip() for side in text.replace("==", "=", 1).split("=", 1))
        term = LabelTerm(key, LabelOp.EQUAL, (value,))
    elif text.startswith("!"):
        key = text[1:].strip()
        term = LabelTerm(key, LabelOp.EXISTS, invert=True)
    else:
        key = text
        term = LabelTerm(key, LabelOp.EXISTS)
    if not key or any(character in key for character in "=!, "):
        raise ArgumentTypeError(
            f"{text!r} is not a selector term (KEY=VALUE, KEY!=VALUE, KEY, !KEY)"
        )
    return term
