"""The sysctl domain's resources: what a client asks for (spec) and what the kernel has (status).

Keys
----
A sysctl is a file under /proc/sys. Clients may name it in either of the two forms that
sysctl(8) and sysctl.d(5) accept, and the same rule decides between them: **the first
separator decides**.

- If the first separator is a slash, the key is the path relative to /proc/sys, verbatim:
  ``net/ipv4/conf/eth0.100/forwarding``.
- If the first separator is a dot, dots separate the components and a slash stands for a
  dot inside a component: ``net.ipv4.conf.eth0/100.forwarding``. Converting between the two
  forms swaps every ``.`` and ``/``.

The canonical form, the one the models hold and the resource id, is the **dotted form**: it is
what ``sysctl -a`` prints and what operators type, it names every sysctl (a component that
contains a dot keeps it, written as a slash), and sysctl(8) and sysctl.d(5) read it back to the
same file. The swap is its own inverse, so canonical key and path are one-to-one;
`key_path` gives the path.

The one path neither form can name is one whose first component contains a dot (written
either way, that dot would be read as the first separator). The first component is one of
the kernel's fixed top-level directories (``abi``, ``fs``, ``kernel``, ``net``, ``vm``, ...), so
it is required to be a plain lower-case name, which also keeps a key from starting with
``-`` (sysctl.d's "ignore errors" mark).

A key is refused when it is empty, longer than 255 characters, absolute, has fewer than two
components, an empty, ``.`` or ``..`` component, whitespace, control characters (NUL
included), or one of ``= * ? [ ]`` (sysctl.d reads those as its syntax or as glob patterns).
What remains can only name a path inside /proc/sys; drivers also refuse to follow symlinks.

Values
------
A value is text: a number, a string, or a vector of numbers separated by spaces or tabs
(``4096 87380 6291456``); the kernel decides whether it fits the sysctl. Surrounding
whitespace (a trailing newline included) is stripped, as sysctl.d does, so a value holds the
same live and at boot. Inside it, tabs are the only characters allowed that are not
printable (a newline or NUL would end it early, or smuggle a second line into sysctl.d);
at most 4096 bytes of UTF-8. The kernel prints vectors tab-separated: `values_match`
compares a wanted value with a read one.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictBool

from cosid.api.cosi.sysctl.v1alpha1 import sysctl_pb2
from cosid.resources import namespaces
from cosid.resources.typed import TypedApi
from cosid.state.registry import ResourceDefinition
from cosid.state.resource import Kind

SYSCTL_SPEC_TYPE: Final = "SysctlSpecs.sysctl.cosi.dev"
"""COSI type of the specs: a key and the value a client wants. The resource id is the key."""
SYSCTL_STATUS_TYPE: Final = "SysctlStatuses.sysctl.cosi.dev"
"""COSI type of the statuses: what the kernel has for a key. The resource id is the key."""
SYSCTL_ORIGINAL_TYPE: Final = "SysctlOriginals.sysctl.cosi.dev"
"""COSI type of the values found before cosid first wrote a key (durable: a restart must not
forget what deleting a spec restores). The resource id is the key."""

SPECS: Final = Kind(namespaces.SYSCTL.name, SYSCTL_SPEC_TYPE)
STATUSES: Final = Kind(namespaces.RUNTIME.name, SYSCTL_STATUS_TYPE)
ORIGINALS: Final = Kind(namespaces.SYSCTL.name, SYSCTL_ORIGINAL_TYPE)

CONTROLLER: Final = "sysctl"
"""The controller that makes the specs true (and writes statuses and originals)."""

MAX_KEY_LENGTH: Final = 255
MAX_VALUE_BYTES: Final = 4096

_SWAP: Final = str.maketrans("./", "/.")
_TOP_LEVEL: Final = re.compile(r"[a-z][a-z0-9_]*\Z")
_SYSCTL_D_SYNTAX: Final = frozenset("=*?[]")
_PLAIN_KEY: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[A-Za-z0-9_-]+)+\Z")
"""The common case, dotted with no dot inside a component: canonical as it is."""


def parse_key(text: str) -> str:
    """The canonical (dotted) form of a key given in either form.

    Raises ValueError saying what is wrong (the message completes "the key ...").
    """
    if len(text) <= MAX_KEY_LENGTH and _PLAIN_KEY.match(text):
        return text
    return _parse_any_key(text)


def _parse_any_key(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    if len(text) > MAX_KEY_LENGTH:
        raise ValueError(f"is {len(text)} characters long, the limit is {MAX_KEY_LENGTH}")
    for char in text:
        if char.isspace():
            raise ValueError("must not contain whitespace")
        if not char.isprintable():
            raise ValueError("must not contain control characters")
        if char in _SYSCTL_D_SYNTAX:
            raise ValueError(f"must not contain {char!r}")
    if text.startswith("/"):
        raise ValueError("must be relative to /proc/sys, not an absolute path")
    first_separator = next((char for char in text if char in "./"), ".")
    path = text if first_separator == "/" else text.translate(_SWAP)
    components = path.split("/")
    if len(components) < 2:
        raise ValueError("must have at least two components, like net.ipv4.ip_forward")
    for component in components:
        if not component:
            raise ValueError("must not have empty components")
        if component in (".", ".."):
            raise ValueError("must not have '.' or '..' components")
    if not _TOP_LEVEL.match(components[0]):
        raise ValueError(
            f"must start with a top-level sysctl directory like net or kernel, "
            f"not {components[0]!r}"
        )
    return path.translate(_SWAP)


def key_path(key: str) -> str:
    """The path of a canonical key relative to /proc/sys (``net/ipv4/ip_forward``)."""
    return key.translate(_SWAP)


def parse_value(text: str) -> str:
    """A value stripped of surrounding whitespace; ValueError says what is wrong."""
    value = text.strip(" \t\r\n")
    size = len(value.encode(errors="surrogatepass"))
    if size > MAX_VALUE_BYTES:
        raise ValueError(f"is {size} bytes long, the limit is {MAX_VALUE_BYTES}")
    for char in value:
        if char != "\t" and not char.isprintable():
            raise ValueError(
                "must not contain control characters or line breaks "
                "(spaces or tabs separate the numbers of a vector)"
            )
    return value


def values_match(wanted: str, current: str) -> bool:
    """Whether the kernel's value is the wanted one, whatever whitespace separates the parts.

    The kernel reads ``4096 87380 6291456`` and prints it tab-separated. Comparing the parts
    also calls ``a  b`` and ``a b`` the same, which matters only for string sysctls that care
    about runs of spaces; none of the common ones do.
    """
    return wanted.split() == current.split()


SysctlKey = Annotated[str, AfterValidator(parse_key)]
"""A sysctl key in either form, normalised to the canonical dotted form."""

SysctlValue = Annotated[str, AfterValidator(parse_value)]
"""A sysctl value: bounded text without control characters, surrounding whitespace stripped."""


class SysctlSpec(BaseModel):
    """A sysctl a client wants set. Numbers are accepted for `value` (YAML ``value: 1``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    key: SysctlKey
    value: SysctlValue
    ignore_errors: StrictBool = False
    """A write the kernel refuses (or a key it lacks) is reported, not retried as a failure:
    the meaning of sysctl.d's ``-`` prefix."""

    @property
    def id(self) -> str:
        """The resource id: the canonical key."""
        return self.key

    @property
    def path(self) -> str:
        """The sysctl's path relative to /proc/sys."""
        return key_path(self.key)


class SysctlStatus(BaseModel):
    """What the kernel has for a key. Conditions (ready, reason, ...) come from the runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: SysctlKey
    supported: StrictBool
    """Whether the running kernel (in this network namespace) has the key at all."""
    current: str | None = None
    """The value read last; None when the key is not supported or cannot be read."""
    original: str | None = None
    """The value found before cosid first wrote the key: what deleting the spec restores."""

    @property
    def id(self) -> str:
        return self.key


class SysctlOriginal(BaseModel):
    """The value a key had before cosid first wrote it, as the kernel printed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: SysctlKey
    value: str


DEFINITIONS: Final = (
    ResourceDefinition(
        SPECS.type, SPECS.namespace, aliases=("sysctl", "sysctls"), spec_model=SysctlSpec
    ),
    ResourceDefinition(STATUSES.type, STATUSES.namespace, writable=False),
    ResourceDefinition(ORIGINALS.type, ORIGINALS.namespace, writable=False),
)

API: Final = TypedApi(
    service=sysctl_pb2.DESCRIPTOR.services_by_name["SysctlService"],
    specs=SPECS,
    statuses=STATUSES,
    spec_model=SysctlSpec,
    status_model=SysctlStatus,
    controller=CONTROLLER,
)
"""The typed service cosi.sysctl.v1alpha1.SysctlService over these types."""
