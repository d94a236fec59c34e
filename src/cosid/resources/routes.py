"""The network domain's routes: a route a client wants in a routing table (spec), what the
kernel has under the route's key (status), and whether cosid added it or found it (original).

Ids
---
The id is ``<table>/<destination>/<metric>``, such as ``main/10.1.0.0/16/0``,
``100/0.0.0.0/0/0`` or ``main/2001:db8:1::/64/1024``: the kernel keys a route by its table,
destination prefix and metric (and family, which the destination says, and TOS, which cosid
leaves 0), so the id is exactly that key. It parses back (`parse_route_id`): the table has no
``/``, and the metric is what follows the last one.

Fields
------
``destination`` is a network in canonical form (IPv6 compressed); a bare address is a host
route (``/32``, ``/128``). Host bits set are refused, not masked (``10.1.2.3/16`` names no
network: the message says which was meant). ``default`` is the default route of the family the
spec says elsewhere (``family``, the gateway or the source), stored as ``0.0.0.0/0`` or
``::/0``; without any of these it is refused.

``family`` (inet, inet6) follows from the destination; given, it must agree. ``gateway`` and
``source`` (the preferred source address) are addresses of the destination's family, neither
unspecified nor multicast. ``link`` is the output link's name (the links' rule). ``type`` is
unicast (the default), blackhole, unreachable or prohibit; a unicast route needs a link or a
gateway, the others have neither, nor a source. An IPv6 link-local gateway needs its link.

``metric`` is 0 to 4294967295; the default is the kernel's: 0 for IPv4, 1024 for IPv6, where
the kernel turns 0 into 1024 too. ``table`` is ``main`` (the default), ``local``, ``default``
or a number 1 to 4294967295; 253, 254 and 255 are stored by their names. ``scope`` is
universe, site, link, host or nowhere; the default is ``link`` for a unicast IPv4 route without
a gateway, else ``universe`` (IPv6 routes have no other; a gateway needs universe or site).
``protocol`` is who the route belongs to: ``static`` by default, one of the kernel's names
(boot, kernel, dhcp, ra, bird, bgp, ...) or a number 1 to 255; numbers with a name are
stored by it.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Final, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from cosid.api.cosi.network.v1alpha1 import network_pb2
from cosid.resources import namespaces
from cosid.resources.addresses import Family
from cosid.resources.links import LinkName
from cosid.resources.typed import TypedApi
from cosid.state.query import LabelOp, LabelQuery, LabelTerm
from cosid.state.registry import PrintColumn, ResourceDefinition
from cosid.state.resource import Kind

ROUTE_SPEC_TYPE: Final = "RouteSpecs.network.cosi.dev"
"""COSI type of the specs: a route a client wants. The id is ``<table>/<destination>/<metric>``."""
ROUTE_STATUS_TYPE: Final = "RouteStatuses.network.cosi.dev"
"""COSI type of the statuses: every route the kernel has, in every table (the network
observer writes them). Same id form."""
ROUTE_ORIGINAL_TYPE: Final = "RouteOriginals.network.cosi.dev"
"""COSI type of what cosid found (durable: deleting the spec deletes the route only when cosid
added it, else puts back the route it found, even after a restart). Same id."""

SPECS: Final = Kind(namespaces.NETWORK.name, ROUTE_SPEC_TYPE)
STATUSES: Final = Kind(namespaces.RUNTIME.name, ROUTE_STATUS_TYPE)
ORIGINALS: Final = Kind(namespaces.NETWORK.name, ROUTE_ORIGINAL_TYPE)

CONTROLLER: Final = "routes"
"""The controller that makes the specs true (and writes originals)."""

RouteType = Literal["unicast", "blackhole", "unreachable", "prohibit"]
RouteScope = Literal["universe", "site", "link", "host", "nowhere"]

MAX_U32: Final = 2**32 - 1
TABLE_NAMES: Final = {253: "default", 254: "main", 255: "local"}
"""The kernel's fixed tables (rt_tables), by number."""
PROTOCOL_NAMES: Final = {
    1: "redirect",
    2: "kernel",
    3: "boot",
    4: "static",
    8: "gated",
    9: "ra",
    10: "mrt",
    11: "zebra",
    12: "bird",
    13: "dnrouted",
    14: "xorp",
    15: "ntk",
    16: "dhcp",
    17: "mrouted",
    18: "keepalived",
    42: "babel",
    99: "openr",
    186: "bgp",
    187: "isis",
    188: "ospf",
    189: "rip",
    192: "eigrp",
}
"""The kernel's route protocols (rtnetlink.h's RTPROT_*), by number."""
IPV6_DEFAULT_METRIC: Final = 1024
"""IP6_RT_PRIO_USER: the metric the kernel gives an IPv6 route asked for with 0."""
_DEFAULT_DESTINATIONS: Final[dict[Family, str]] = {"inet": "0.0.0.0/0", "inet6": "::/0"}
_FAMILIES: Final[dict[str, Family]] = {"inet": "inet", "inet6": "inet6"}
_DEFAULTED: Final = ("family", "type", "table", "scope", "protocol")
"""Fields whose empty value (proto3's unset string) means the default."""


class RouteKey(NamedTuple):
    """The kernel's key of a route (with the family the destination says): what its id names."""

    table: str
    destination: str
    metric: int

    @property
    def id(self) -> str:
        return f"{self.table}/{self.destination}/{self.metric}"


def parse_route_id(id: str) -> RouteKey:
    """The key an id names; ValueError when it is not one (or not canonical)."""
    table, _, rest = id.partition("/")
    destination, _, metric = rest.rpartition("/")
    try:
        number = _decimal(metric)
        if number is None:
            raise ValueError("the metric is not a number")
        key = RouteKey(parse_table(table), parse_destination(destination), number)
    except ValueError as error:
        raise ValueError(
            f"{id!r} is not a route id <table>/<destination>/<metric>: {error}"
        ) from None
    if key.id != id or key.metric > MAX_U32:
        raise ValueError(f"{id!r} is not a canonical route id (that would be {key.id!r})")
    return key


def family_of(network: str) -> Family:
    return "inet" if ipaddress.ip_network(network).version == 4 else "inet6"


def _decimal(text: str) -> int | None:
    """The number an ASCII decimal names; None for anything else (signs, other digits)."""
    return int(text) if text.isascii() and text.isdigit() else None


def parse_destination(text: str) -> str:
    """A network with its prefix length, canonical; a bare address is a host route."""
    text = text.strip()
    if text == "default":
        raise ValueError(
            "default needs a family, a gateway or a source to say IPv4 or IPv6 "
            "(or write 0.0.0.0/0 or ::/0)"
        )
    if "%" in text:
        raise ValueError("must not have an IPv6 zone (%...): the link says where")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as error:
        raise ValueError(f"is not an IPv4 or IPv6 network: {error}") from None
    if network.network_address != ipaddress.ip_interface(text).ip:
        raise ValueError(f"has host bits set: the network is {network.with_prefixlen}")
    return network.with_prefixlen


def parse_address(text: str) -> str:
    """A unicast IPv4 or IPv6 address, canonical (a gateway, a source)."""
    if "%" in text:
        raise ValueError("must not have an IPv6 zone (%...): the link says where")
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError as error:
        raise ValueError(f"is not an IPv4 or IPv6 address: {error}") from None
    if address.is_unspecified:
        raise ValueError("must not be the unspecified address")
    if address.is_multicast:
        raise ValueError("must not be a multicast address")
    return str(address)


def parse_table(value: object) -> str:
    """A routing table: main, local, default, or a number 1..4294967295 (named when it has a
    name); YAML gives numbers as ints."""
    text = str(value).strip() if isinstance(value, int | str) else ""
    if isinstance(value, bool) or not text:
        raise ValueError("must be main, local, default or a number 1 to 4294967295")
    if text in TABLE_NAMES.values():
        return text
    number = _decimal(text)
    if number is None or not 0 < number <= MAX_U32 or text != str(number):
        raise ValueError("must be main, local, default or a number 1 to 4294967295")
    return TABLE_NAMES.get(number, text)


def parse_protocol(value: object) -> str:
    """Who a route belongs to: a name of the kernel's, or a number 1..255 (named when it has a
    name)."""
    text = str(value).strip() if isinstance(value, int | str) else ""
    names = PROTOCOL_NAMES.values()
    if text in names:
        return text
    number = _decimal(text)
    if isinstance(value, bool) or number is None or not 0 < number <= 255:
        raise ValueError(f"must be a number 1 to 255 or one of {', '.join(sorted(names))}")
    return PROTOCOL_NAMES.get(number, str(number))


Destination = Annotated[str, AfterValidator(parse_destination)]
"""A network with its prefix length, canonical (``10.1.0.0/16``, ``2001:db8::/64``)."""
IpAddress = Annotated[str, AfterValidator(parse_address)]
Table = Annotated[str, BeforeValidator(parse_table)]
RouteProtocol = Annotated[str, BeforeValidator(parse_protocol)]
Metric = Annotated[int, Field(ge=0, le=MAX_U32, strict=True)]


class RouteSpec(BaseModel):
    """A route a client wants in a routing table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    destination: Destination
    family: Family = "inet"
    """Follows from the destination (filled in when not given)."""
    type: RouteType = "unicast"
    gateway: IpAddress | None = None
    link: LinkName | None = None
    """The output link; None: the kernel picks it for the gateway."""
    source: IpAddress | None = None
    """The preferred source address of packets the host sends along the route."""
    metric: Metric = 0
    """IPv6: 0 is the kernel's 1024."""
    table: Table = "main"
    scope: RouteScope = "universe"
    """Without one: link for a unicast IPv4 route without a gateway, else universe."""
    protocol: RouteProtocol = "static"

    @model_validator(mode="before")
    @classmethod
    def _derive_defaults(cls, data: Any) -> Any:
        """Fill in what follows from the other fields (family, a default route's network, the
        IPv6 metric, the scope); what cannot be read is left to the fields' validators."""
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if not (k in _DEFAULTED and v == "")}
        family = _stated_family(data)
        if family is None:
            return data
        if str(data.get("destination", "")).strip() == "default":
            data["destination"] = _DEFAULT_DESTINATIONS[family]
        data.setdefault("family", family)
        if family == "inet6" and data.get("metric", 0) == 0:
            data["metric"] = IPV6_DEFAULT_METRIC
        if "scope" not in data:
            plain = data.get("type", "unicast") == "unicast" and data.get("gateway") is None
            data["scope"] = "link" if family == "inet" and plain else "universe"
        return data

    @model_validator(mode="after")
    def _fits_together(self) -> RouteSpec:
        """Rules between fields, reported at the field to change."""
        if self.family != family_of(self.destination):
            _refuse(self, "family", self.family, f"is not the family of {self.destination}")
        for field in ("gateway", "source"):
            address = getattr(self, field)
            if address is not None and _family(address) != self.family:
                _refuse(
                    self, field, address, f"is not an {self.family} address like the destination"
                )
        if self.type == "unicast":
            self._check_unicast()
        else:
            for field in ("gateway", "link", "source"):
                if getattr(self, field) is not None:
                    _refuse(
                        self, field, getattr(self, field), f"a {self.type} route has no {field}"
                    )
        if self.family == "inet6" and self.scope != "universe":
            _refuse(self, "scope", self.scope, "is universe for IPv6 routes (they have no other)")
        return self

    def _check_unicast(self) -> None:
        if self.gateway is None and self.link is None:
            _refuse(self, "link", None, "a unicast route needs a link or a gateway")
        if self.gateway is None:
            return
        if self.scope not in ("universe", "site"):
            _refuse(self, "scope", self.scope, "must be universe or site with a gateway")
        link_local = ipaddress.ip_address(self.gateway).is_link_local
        if self.family == "inet6" and link_local and self.link is None:
            _refuse(self, "link", None, "an IPv6 link-local gateway needs its link")

    @property
    def key(self) -> RouteKey:
        return RouteKey(self.table, self.destination, self.metric)

    @property
    def id(self) -> str:
        """The resource id: ``<table>/<destination>/<metric>`` (see the module's docstring)."""
        return self.key.id


def _stated_family(data: dict[str, Any]) -> Family | None:
    """The family the data says: by its destination, else its family, gateway or source."""
    destination, family = data.get("destination"), data.get("family")
    if isinstance(family, str) and family in _FAMILIES and not _readable(destination):
        return _FAMILIES[family]
    for value in (destination, data.get("gateway"), data.get("source")):
        if _readable(value):
            return _family(str(value).strip())
    return None


def _readable(value: object) -> bool:
    """Whether the value is an address or network (of either family)."""
    try:
        _family(str(value).strip())
    except ValueError:
        return False
    return isinstance(value, str)


def _family(text: str) -> Family:
    """The family of an address or network (ValueError when it is neither)."""
    try:
        version = ipaddress.ip_address(text).version
    except ValueError:
        version = ipaddress.ip_network(text, strict=False).version
    return "inet" if version == 4 else "inet6"


def _refuse(model: BaseModel, field: str, value: Any, message: str) -> None:
    error = PydanticCustomError("value_error", message)
    details = InitErrorDetails(type=error, loc=(field,), input=value)
    raise ValidationError.from_exception_data(type(model).__name__, [details])


class RouteStatus(BaseModel):
    """A route the kernel has, in any table, whoever added it (the observer writes one for
    each key; a spec's is the one under its id). Conditions (ready, reason) come from the
    runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str
    destination: str
    metric: int
    family: Family
    type: str
    """unicast, local, broadcast, blackhole, ..., or the kernel's number for another."""
    gateway: str | None = None
    link: str | None = None
    source: str | None = None
    scope: str
    protocol: str
    flags: list[str] = []
    """The kernel's flags: linkdown, onlink, dead, ..., and multipath."""
    also_on: list[str] = []
    """Other output links with a route under the same key (IPv6 keeps one per link, such as
    fe80::/64 on each); the fields above are the route out of the lowest link index."""

    @property
    def id(self) -> str:
        return RouteKey(self.table, self.destination, self.metric).id


class RouteOriginal(BaseModel):
    """Whether cosid added the route (deleting the spec deletes it), else the route it found
    under the key (deleting the spec puts it back)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: Table
    destination: Destination
    metric: Metric
    added: StrictBool
    found: RouteSpec | None = None
    """The route cosid found; None when it added the route, or found one no spec can say
    (multipath, another type): that one is left as cosid made it."""

    @property
    def id(self) -> str:
        return RouteKey(self.table, self.destination, self.metric).id


DEFINITIONS: Final = (
    ResourceDefinition(
        SPECS.type,
        SPECS.namespace,
        aliases=("route", "routes"),
        spec_model=RouteSpec,
    ),
    ResourceDefinition(
        STATUSES.type,
        STATUSES.namespace,
        print_columns=(
            PrintColumn("RouteType", "{.type}"),
            PrintColumn("Gateway", "{.gateway}"),
            PrintColumn("Link", "{.link}"),
            PrintColumn("Protocol", "{.protocol}"),
        ),
        writable=False,
    ),
    ResourceDefinition(ORIGINALS.type, ORIGINALS.namespace, writable=False),
)

API: Final = TypedApi(
    service=network_pb2.DESCRIPTOR.services_by_name["RouteService"],
    specs=SPECS,
    statuses=STATUSES,
    spec_model=RouteSpec,
    status_model=RouteStatus,
    controller=CONTROLLER,
    observed_query=LabelQuery((LabelTerm("table", LabelOp.EQUAL, ("main",)),)),
)
"""The typed service cosi.network.v1alpha1.RouteService over these types."""
