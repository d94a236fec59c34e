"""RFC 1123 names (hostnames, DNS domains), checked the same way wherever a domain takes one."""

from __future__ import annotations

import re
from typing import Final

MAX_LABEL_LENGTH: Final = 63

_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\Z")


def check_labels(name: str) -> None:
    """Raise ValueError unless `name` is dot-separated RFC 1123 labels: each 1 to 63 letters,
    digits and '-', neither starting nor ending with '-'; no trailing dot. (The message
    completes "the name ..."; the caller checks the whole name's length, which differs.)"""
    if name.endswith("."):
        raise ValueError("must not end with a dot")
    for label in name.split("."):
        if not label:
            raise ValueError("must not have empty labels (two dots in a row, or a leading dot)")
        if len(label) > MAX_LABEL_LENGTH:
            raise ValueError(
                f"has a label of {len(label)} characters, the limit is {MAX_LABEL_LENGTH}"
            )
        if not label.isascii() or not _LABEL.match(label):
            raise ValueError(
                f"has the label {label!r}: labels are letters, digits and '-', "
                "and neither start nor end with '-'"
            )
