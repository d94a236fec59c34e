"""The network domain's links: a network interface a client wants (spec), what the kernel has
under that name (status), and what cosid found or created (original).

Names
-----
A link is named as the kernel names it, and the name is the resource id: 1 to 15 bytes
(IFNAMSIZ less the NUL), not ``.`` or ``..``, without ``/``, ``:``, whitespace or other
non-printable characters (the kernel's ``dev_valid_name``, plus ``:``, which ip(8) reads as an
alias). The same rule holds wherever a spec names another link (master, peer, parent, dev).

Kinds
-----
``physical`` is a link cosid never creates or deletes: one the node has (a NIC, or any link
something else made). It is configured (up, mtu, master, mac) while it exists, and put back as
it was found when the spec is deleted. Every other kind is created when missing and deleted
with its spec, but only when cosid created it: an existing link of that kind is adopted and
treated like a physical one. An existing link of another kind is refused (``KindMismatch``).

Kind options are typed and belong to their kind, which must have them: ``veth.peer`` (the other
end, created with it), ``vlan.id`` (1 to 4094) and ``vlan.parent``, ``macvlan.parent`` and
``macvlan.mode``, ``vxlan.vni`` (0 to 16777215) with optional ``vxlan.dev`` and ``vxlan.port``,
``bond.mode`` (one of the kernel's `BOND_MODES`; optional, the kernel's default balance-rr).
They are used when cosid creates the link; changing them later does not re-create it.
Whether the running kernel has the kind at all is found when creating it
(``KindNotSupported``).

Settings
--------
``up`` (default true) is the administrative state; ``mtu`` 68 to 65535 (None keeps the link's);
``master`` the bridge or bond the link is a port of (None: none, a port is released); ``mac``
a unicast Ethernet address, normalised to lower-case ``aa:bb:cc:dd:ee:ff`` (None keeps the
link's).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    StrictBool,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from cosid.api.cosi.network.v1alpha1 import network_pb2
from cosid.resources import namespaces
from cosid.resources.typed import TypedApi
from cosid.state.registry import PrintColumn, ResourceDefinition
from cosid.state.resource import Kind

LINK_SPEC_TYPE: Final = "LinkSpecs.network.cosi.dev"
"""COSI type of the specs: a link a client wants. The resource id is the link's name."""
LINK_STATUS_TYPE: Final = "LinkStatuses.network.cosi.dev"
"""COSI type of the statuses: every link the kernel has (the network observer writes them).
The id is the name."""
LINK_ORIGINAL_TYPE: Final = "LinkOriginals.network.cosi.dev"
"""COSI type of what cosid found (durable: deleting the spec deletes the link cosid created,
or restores the one it found, even after a restart). The id is the name."""

SPECS: Final = Kind(namespaces.NETWORK.name, LINK_SPEC_TYPE)
STATUSES: Final = Kind(namespaces.RUNTIME.name, LINK_STATUS_TYPE)
ORIGINALS: Final = Kind(namespaces.NETWORK.name, LINK_ORIGINAL_TYPE)

CONTROLLER: Final = "links"
"""The controller that makes the specs true (and writes originals)."""

MAX_NAME_BYTES: Final = 15
MIN_MTU: Final = 68
MAX_MTU: Final = 65535
MAX_VNI: Final = (1 << 24) - 1
_MAC: Final = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}\Z")

LinkKind = Literal["physical", "veth", "bridge", "vxlan", "macvlan", "dummy", "vlan", "bond"]
BondMode = Literal[
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
]
MacvlanMode = Literal["private", "vepa", "bridge", "passthru", "source"]

BOND_MODES: Final = get_args(BondMode)
"""The kernel's bonding modes, in its numbering (balance-rr is 0)."""


def parse_name(text: str) -> str:
    """A link name the kernel accepts as it is; ValueError says what is wrong."""
    if not text:
        raise ValueError("must not be empty")
    if len(text.encode(errors="surrogatepass")) > MAX_NAME_BYTES:
        raise ValueError(f"must be at most {MAX_NAME_BYTES} bytes (IFNAMSIZ)")
    if text in (".", ".."):
        raise ValueError("must not be '.' or '..'")
    for char in text:
        if char in "/:" or char.isspace() or not char.isprintable():
            raise ValueError(f"must not contain {char!r} ('/', ':', whitespace, control)")
    return text


def parse_mac(text: str) -> str:
    """A unicast Ethernet address, lower-case with colons."""
    mac = text.strip().lower().replace("-", ":")
    if not _MAC.match(mac):
        raise ValueError("must be six hex octets separated by ':', like 02:00:00:00:00:01")
    if int(mac[:2], 16) & 1:
        raise ValueError("must be a unicast address (the first octet's lowest bit clear)")
    if mac == "00:00:00:00:00:00":
        raise ValueError("must not be all zeros")
    return mac


LinkName = Annotated[str, AfterValidator(parse_name)]
"""A kernel link name: 1 to 15 bytes, no '/', ':', whitespace or control characters."""
Mac = Annotated[str, AfterValidator(parse_mac)]
Mtu = Annotated[int, Field(ge=MIN_MTU, le=MAX_MTU, strict=True)]


class _Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VethOptions(_Options):
    peer: LinkName
    """The other end's name, created with this one (and deleted with it)."""


class VlanOptions(_Options):
    id: Annotated[int, Field(ge=1, le=4094, strict=True)]
    parent: LinkName


class MacvlanOptions(_Options):
    parent: LinkName
    mode: MacvlanMode = "bridge"


class VxlanOptions(_Options):
    vni: Annotated[int, Field(ge=0, le=MAX_VNI, strict=True)]
    dev: LinkName | None = None
    """The link the tunnel's packets leave through; None: the routing decides."""
    port: Annotated[int, Field(ge=1, le=65535, strict=True)] | None = None
    """The UDP destination port; None: the kernel's default."""


class BondOptions(_Options):
    mode: BondMode | None = None
    """None: the kernel's default (balance-rr)."""


_KIND_OPTIONS: Final = {"veth": True, "vlan": True, "macvlan": True, "vxlan": True, "bond": False}
"""The kinds that take options, and whether the options are required."""


class LinkSpec(BaseModel):
    """A link a client wants, by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: LinkName
    kind: LinkKind
    up: StrictBool = True
    mtu: Mtu | None = None
    """None keeps the link's MTU."""
    master: LinkName | None = None
    """The bridge or bond this link is a port of; None: none."""
    mac: Mac | None = None
    """None keeps the link's address."""
    veth: VethOptions | None = None
    vlan: VlanOptions | None = None
    macvlan: MacvlanOptions | None = None
    vxlan: VxlanOptions | None = None
    bond: BondOptions | None = None

    @model_validator(mode="after")
    def _fits_together(self) -> LinkSpec:
        """Rules between fields, each reported at the field to change."""
        problems = [
            InitErrorDetails(
                type=PydanticCustomError("value_error", message), loc=(field,), input=value
            )
            for field, value, message in _combination_problems(self)
        ]
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    @property
    def id(self) -> str:
        """The resource id: the link's name."""
        return self.name


def _combination_problems(spec: LinkSpec) -> Iterator[tuple[str, Any, str]]:
    for kind, required in _KIND_OPTIONS.items():
        options = getattr(spec, kind)
        if options is not None and kind != spec.kind:
            yield kind, options, f"applies to kind {kind} only, not {spec.kind}"
        elif required and options is None and kind == spec.kind:
            yield kind, None, f"is required for kind {kind}"
    if spec.master is not None and spec.master == spec.name:
        yield "master", spec.master, "must name another link"
    if spec.veth is not None and spec.veth.peer == spec.name:
        yield "veth", spec.veth.peer, "peer must be another name than the link's"


class LinkStatus(BaseModel):
    """A link the kernel has, whoever made it (the observer writes one for each; a spec's
    is the one under its id). Conditions (ready, reason) come from the runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    index: NonNegativeInt
    kind: str | None = None
    """The kernel's kind (veth, bridge...); None for a link without one (a NIC, lo)."""
    up: StrictBool = False
    """The administrative state (the UP flag)."""
    flags: list[str] = []
    """The kernel's flags: UP, BROADCAST, LOWER_UP, ..."""
    oper_state: str
    """The operational state: UP, DOWN, LOWERLAYERDOWN, UNKNOWN, ..."""
    mtu: NonNegativeInt
    mac: str | None = None
    master: str | None = None

    @property
    def id(self) -> str:
        return self.name


class LinkOriginal(BaseModel):
    """What cosid found before it first changed a link: that there was none (`created`: it
    created the link, and deleting the spec deletes it), or the settings it had, which
    deleting the spec puts back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: LinkName
    created: StrictBool
    up: StrictBool | None = None
    mtu: NonNegativeInt | None = None
    master: str | None = None
    mac: str | None = None

    @property
    def id(self) -> str:
        return self.name


DEFINITIONS: Final = (
    ResourceDefinition(SPECS.type, SPECS.namespace, aliases=("link", "links"), spec_model=LinkSpec),
    ResourceDefinition(
        STATUSES.type,
        STATUSES.namespace,
        print_columns=(
            PrintColumn("Kind", "{.kind}"),
            PrintColumn("State", "{.oper_state}"),
            PrintColumn("MTU", "{.mtu}"),
            PrintColumn("Master", "{.master}"),
        ),
        writable=False,
    ),
    ResourceDefinition(ORIGINALS.type, ORIGINALS.namespace, writable=False),
)

API: Final = TypedApi(
    service=network_pb2.DESCRIPTOR.services_by_name["LinkService"],
    specs=SPECS,
    statuses=STATUSES,
    spec_model=LinkSpec,
    status_model=LinkStatus,
    controller=CONTROLLER,
)
"""The typed service cosi.network.v1alpha1.LinkService over these types."""
