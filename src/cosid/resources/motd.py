"""The MOTD domain's resources: the message of the day a client asks for (spec) and what
/etc/motd holds (status).

One file, one resource
----------------------
The MOTD is a single file, so there is a single resource of each type, with the id
``motd`` (`MOTD_ID`); any other id is refused. A client sets the message by applying that
one spec, and deleting it puts back whatever was there before cosid first wrote the file
(no file at all included: then the file is removed).

Text
----
The text is the file's content, UTF-8. It may hold anything a terminal shows, escape
sequences for colour included, but no NUL (a text file has none, and login tools stop
reading there), and at most 64 KiB (`MAX_TEXT_BYTES`) once encoded.

Trailing newline: a text that is not empty and does not end with a line break gets one
(``\\n``; after a CR, that makes it CRLF), so that the file is a well-formed text file and
``text: Welcome`` and a YAML block scalar (``text: |``) mean the same file. Nothing else is
changed: trailing blank lines, CR line endings and an empty text (an empty file) are kept as
given. The model holds the text in this form, which is exactly the file's content; the
limit applies to it.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    NonNegativeInt,
    StrictBool,
)

from cosid.api.cosi.motd.v1alpha1 import motd_pb2
from cosid.resources import namespaces
from cosid.resources.files import Base64Bytes, digest
from cosid.resources.typed import TypedApi
from cosid.state.registry import ResourceDefinition
from cosid.state.resource import Kind

MOTD_SPEC_TYPE: Final = "MotdSpecs.motd.cosi.dev"
"""COSI type of the spec: the text a client wants in /etc/motd. One resource, id `MOTD_ID`."""
MOTD_STATUS_TYPE: Final = "MotdStatuses.motd.cosi.dev"
"""COSI type of the status: what /etc/motd holds. One resource, id `MOTD_ID`."""
MOTD_ORIGINAL_TYPE: Final = "MotdOriginals.motd.cosi.dev"
"""COSI type of what /etc/motd held before cosid first wrote it (durable: a restart must not
forget what deleting the spec restores). One resource, id `MOTD_ID`."""

SPECS: Final = Kind(namespaces.MOTD.name, MOTD_SPEC_TYPE)
STATUSES: Final = Kind(namespaces.RUNTIME.name, MOTD_STATUS_TYPE)
ORIGINALS: Final = Kind(namespaces.MOTD.name, MOTD_ORIGINAL_TYPE)

CONTROLLER: Final = "motd"
"""The controller that makes the specs true (and writes statuses and originals)."""

MOTD_ID: Final = "motd"
"""The id of the one resource of each MOTD type: the MOTD is one file."""
MOTD_PATH: Final = "/etc/motd"
"""Where the MOTD lives on the node (under the drivers' root prefix)."""
MAX_TEXT_BYTES: Final = 64 * 1024


def parse_text(text: str) -> str:
    """The text as the file holds it (a final line break added); ValueError says what is wrong."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    if text and not text.endswith("\n"):
        text += "\n"
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (it has an unpaired surrogate)") from None
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"is {size} bytes long, the limit is {MAX_TEXT_BYTES}")
    return text


def parse_id(text: str) -> str:
    """The id of an MOTD resource, which can only be `MOTD_ID`; ValueError otherwise."""
    if text != MOTD_ID:
        raise ValueError(f"must be {MOTD_ID!r}: there is one MOTD")
    return text


MotdText = Annotated[str, AfterValidator(parse_text)]
"""MOTD text: no NUL, at most 64 KiB of UTF-8, ending with a line break unless empty."""


class MotdSpec(BaseModel):
    """The message of the day a client wants in /etc/motd."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: MotdText

    @property
    def id(self) -> str:
        """The resource id: always `MOTD_ID`."""
        return MOTD_ID

    @property
    def content(self) -> bytes:
        """The file's content: the text in UTF-8."""
        return self.text.encode()


class MotdStatus(BaseModel):
    """What /etc/motd holds. Conditions (ready, reason, ...) come from the runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = MOTD_PATH
    """The file, as the node sees it (the root prefix left out)."""
    exists: StrictBool
    sha256: str | None = None
    """The content's SHA-256 in hex; None when there is no file."""
    size: NonNegativeInt | None = None
    """The content's size in bytes; None when there is no file."""
    mode: NonNegativeInt | None = None
    """The permission bits (``st_mode & 0o7777``: 420 is 0644); None when there is no file."""
    uid: NonNegativeInt | None = None
    gid: NonNegativeInt | None = None
    original_sha256: str | None = None
    """The SHA-256 of what deleting the spec restores; None when there was no file then (the
    file is removed) or nothing is recorded yet."""

    @property
    def id(self) -> str:
        return MOTD_ID


class MotdOriginal(BaseModel):
    """What /etc/motd held before cosid first wrote it, byte for byte."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exists: StrictBool
    content: Base64Bytes = b""
    """The file's content (empty when there was no file)."""

    @property
    def id(self) -> str:
        return MOTD_ID

    @property
    def sha256(self) -> str | None:
        return digest(self.content) if self.exists else None


DEFINITIONS: Final = (
    ResourceDefinition(SPECS.type, SPECS.namespace, aliases=("motd",), spec_model=MotdSpec),
    ResourceDefinition(STATUSES.type, STATUSES.namespace, writable=False),
    ResourceDefinition(ORIGINALS.type, ORIGINALS.namespace, writable=False),
)

API: Final = TypedApi(
    service=motd_pb2.DESCRIPTOR.services_by_name["MotdService"],
    specs=SPECS,
    statuses=STATUSES,
    spec_model=MotdSpec,
    status_model=MotdStatus,
    controller=CONTROLLER,
)
"""The typed service cosi.motd.v1alpha1.MotdService over these types."""
