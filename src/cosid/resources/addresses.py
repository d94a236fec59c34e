"""The network domain's addresses: an IP address a client wants on a link (spec), what the
kernel has of it (status), and whether cosid added it (original).

Ids
---
The id is ``<link>/<cidr>``, such as ``eth0/10.0.0.5/24`` or ``eth0/2001:db8::5/64``: the
kernel keys an address by its link, address and prefix length (the same address may be on two
links, and 10.0.0.5/24 and 10.0.0.5/32 are two addresses), so the id is exactly that key. It
parses back unambiguously: a link name has no ``/``.

The address
-----------
``address`` is an IPv4 or IPv6 address with its prefix length, in canonical form (IPv6
compressed, ``2001:db8::5/64``); not the unspecified address, not multicast, without an IPv6
zone (``%eth0``: the link says where). ``scope`` is global, link or host (IPv4's default:
global). The kernel derives an IPv6 address's scope from the address itself (fe80::/10 link,
::1 host, others global), so an IPv6 spec without a scope gets that one, and another is refused.

``flags`` is a small set: ``noprefixroute`` (no route to the prefix is added with the address),
and for IPv6 only ``nodad`` (no duplicate address detection), ``mngtmpaddr`` (a template for
privacy addresses) and ``homeaddress`` (Mobile IPv6). They are sorted, without repeats.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    NonNegativeInt,
    StrictBool,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from cosid.api.cosi.network.v1alpha1 import network_pb2
from cosid.resources import namespaces
from cosid.resources.links import LinkName
from cosid.resources.typed import TypedApi
from cosid.state.registry import PrintColumn, ResourceDefinition
from cosid.state.resource import Kind

ADDRESS_SPEC_TYPE: Final = "AddressSpecs.network.cosi.dev"
"""COSI type of the specs: an address a client wants on a link. The id is ``<link>/<cidr>``."""
ADDRESS_STATUS_TYPE: Final = "AddressStatuses.network.cosi.dev"
"""COSI type of the statuses: every address the kernel has (the network observer writes
them). Same id form."""
ADDRESS_ORIGINAL_TYPE: Final = "AddressOriginals.network.cosi.dev"
"""COSI type of what cosid found (durable: deleting the spec deletes the address only when
cosid added it, even after a restart). Same id."""

SPECS: Final = Kind(namespaces.NETWORK.name, ADDRESS_SPEC_TYPE)
STATUSES: Final = Kind(namespaces.RUNTIME.name, ADDRESS_STATUS_TYPE)
ORIGINALS: Final = Kind(namespaces.NETWORK.name, ADDRESS_ORIGINAL_TYPE)

CONTROLLER: Final = "addresses"
"""The controller that makes the specs true (and writes originals)."""

AddressScope = Literal["global", "link", "host"]
AddressFlag = Literal["noprefixroute", "nodad", "mngtmpaddr", "homeaddress"]
Family = Literal["inet", "inet6"]

IPV6_ONLY_FLAGS: Final = frozenset({"nodad", "mngtmpaddr", "homeaddress"})


def parse_cidr(text: str) -> str:
    """An interface address with its prefix length, in canonical form."""
    if "/" not in text:
        raise ValueError("must have a prefix length, like 10.0.0.5/24 or 2001:db8::5/64")
    if "%" in text:
        raise ValueError("must not have an IPv6 zone (%...): the link says where")
    try:
        interface = ipaddress.ip_interface(text.strip())
    except ValueError as error:
        raise ValueError(f"is not an IPv4 or IPv6 address with a prefix length: {error}") from None
    if interface.ip.is_unspecified:
        raise ValueError("must not be the unspecified address")
    if interface.ip.is_multicast:
        raise ValueError("must not be a multicast address")
    return interface.with_prefixlen


def ipv6_scope(address: ipaddress.IPv6Address) -> AddressScope:
    """The scope the kernel gives an IPv6 address (it ignores the one asked for)."""
    if address.is_loopback:
        return "host"
    if address.is_link_local:
        return "link"
    return "global"


def _sorted_flags(flags: list[AddressFlag]) -> list[AddressFlag]:
    return sorted(set(flags))


Cidr = Annotated[str, AfterValidator(parse_cidr)]
"""An IPv4 or IPv6 address with its prefix length, canonical (``2001:db8::5/64``)."""


class AddressSpec(BaseModel):
    """An address a client wants on a link."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    link: LinkName
    address: Cidr
    scope: AddressScope = "global"
    """IPv6: the address's own scope when not given (the kernel decides it)."""
    flags: Annotated[list[AddressFlag], AfterValidator(_sorted_flags)] = []

    @model_validator(mode="before")
    @classmethod
    def _default_scope(cls, data: Any) -> Any:
        """A spec without a scope (or with proto3's empty one) takes global for IPv4 and the
        address's own for IPv6; an invalid address is left to the field's validator."""
        if not isinstance(data, dict) or data.get("scope"):
            return data
        try:
            interface = ipaddress.ip_interface(str(data.get("address")))
        except ValueError:
            return data
        if isinstance(interface, ipaddress.IPv6Interface):
            return {**data, "scope": ipv6_scope(interface.ip)}
        return {**data, "scope": "global"}

    @model_validator(mode="after")
    def _fits_the_family(self) -> AddressSpec:
        """Rules between the address and the other fields, reported at the field to change."""
        interface = ipaddress.ip_interface(self.address)
        if isinstance(interface, ipaddress.IPv6Interface):
            implied = ipv6_scope(interface.ip)
            if self.scope != implied:
                _refuse(self, "scope", self.scope, f"is {implied} for an IPv6 address like this")
        elif wrong := sorted(IPV6_ONLY_FLAGS.intersection(self.flags)):
            _refuse(self, "flags", self.flags, f"{', '.join(wrong)}: for IPv6 addresses only")
        return self

    @property
    def family(self) -> Family:
        return "inet" if ipaddress.ip_interface(self.address).version == 4 else "inet6"

    @property
    def id(self) -> str:
        """The resource id: ``<link>/<cidr>`` (see the module's docstring)."""
        return address_id(self.link, self.address)


def _refuse(model: BaseModel, field: str, value: Any, message: str) -> None:
    error = PydanticCustomError("value_error", message)
    details = InitErrorDetails(type=error, loc=(field,), input=value)
    raise ValidationError.from_exception_data(type(model).__name__, [details])


def address_id(link: str, address: str) -> str:
    return f"{link}/{address}"


class AddressStatus(BaseModel):
    """An address the kernel has, whoever added it (the observer writes one for each; a
    spec's is the one under its id). Conditions (ready, reason) come from the runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    link: str
    address: str
    family: Family
    scope: str
    """global, link, host, or the kernel's number for another."""
    flags: list[str] = []
    """The kernel's flags: permanent, noprefixroute, nodad, tentative, dadfailed, ..."""
    valid_lifetime: NonNegativeInt | None = None
    """Seconds; None: forever."""
    preferred_lifetime: NonNegativeInt | None = None
    """Seconds; None: forever."""

    @property
    def id(self) -> str:
        return address_id(self.link, self.address)


class AddressOriginal(BaseModel):
    """Whether cosid added the address (deleting the spec deletes it) or found it there (then
    it stays)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    link: LinkName
    address: Cidr
    added: StrictBool

    @property
    def id(self) -> str:
        return address_id(self.link, self.address)


DEFINITIONS: Final = (
    ResourceDefinition(
        SPECS.type,
        SPECS.namespace,
        aliases=("address", "addresses", "addr"),
        spec_model=AddressSpec,
    ),
    ResourceDefinition(
        STATUSES.type,
        STATUSES.namespace,
        print_columns=(PrintColumn("Scope", "{.scope}"), PrintColumn("Flags", "{.flags[:]}")),
        writable=False,
    ),
    ResourceDefinition(ORIGINALS.type, ORIGINALS.namespace, writable=False),
)

API: Final = TypedApi(
    service=network_pb2.DESCRIPTOR.services_by_name["AddressService"],
    specs=SPECS,
    statuses=STATUSES,
    spec_model=AddressSpec,
    status_model=AddressStatus,
    controller=CONTROLLER,
)
"""The typed service cosi.network.v1alpha1.AddressService over these types."""
