"""What every domain that manages a file shares in its models: the content as bytes in a
spec's text, and the digest statuses report and compare."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer


def digest(content: bytes) -> str:
    """The SHA-256 of a file's content, in hex: what statuses report and compare."""
    return hashlib.sha256(content).hexdigest()


def _from_base64(value: object) -> object:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError("must be base64") from None
    return value


Base64Bytes = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(lambda data: base64.b64encode(data).decode(), when_used="json"),
]
"""Bytes, written as base64 in a spec's text (a file's content need not be text)."""
