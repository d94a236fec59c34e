"""The DNS domain's per-link resolvers: the name servers and domains systemd-resolved uses for
one link (spec), and what resolved reports for that link (status).

Ids
---
The id is the link's name (``eth0``): resolved keeps one set of DNS settings per link, so a
link has one spec. The link is found by its name in the daemon's network namespace when the
spec is applied; one that does not exist (yet) waits for it.

Name servers
------------
``servers``: at most `MAX_LINK_SERVERS` IPv4 or IPv6 addresses, each checked and held in
canonical text as the global resolver spec's are (`cosid.resources.dns.parse_nameserver`),
none listed twice. A zone id (``fe80::1%eth0``) is refused: the link says where. An empty
list is allowed (the link's domains or default route alone).

Domains
-------
``domains``: at most `MAX_LINK_DOMAINS` domain names, checked and held in lower case as the
global search domains are, none listed twice. A name with a leading ``~`` is a routing-only
domain: resolved sends the queries for names below it to this link's servers but does not
search it (``~corp.example``); ``~.`` routes every query that no other link claims to this link.

Default route
-------------
``default_route``: whether the link's servers take the queries no domain routes; unset leaves
resolved's own choice (it depends on the link's domains).

What deleting undoes
--------------------
Deleting a spec asks resolved to revert the link (``RevertLink``): it forgets every setting
cosid gave it, and the link goes back to what its manager (networkd, or nobody) configured.
Nothing else is remembered, so there are no originals.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, NonNegativeInt, StrictBool

from cosid.api.cosi.dns.v1alpha1 import dns_pb2
from cosid.resources import namespaces
from cosid.resources.dns import check_unique, parse_nameserver, parse_search_domain
from cosid.resources.links import LinkName
from cosid.resources.typed import TypedApi
from cosid.state.registry import ResourceDefinition
from cosid.state.resource import Kind

LINK_RESOLVER_SPEC_TYPE: Final = "LinkResolverSpecs.dns.cosi.dev"
"""COSI type of the specs: the DNS settings a client wants resolved to use for a link. The id
is the link's name."""
LINK_RESOLVER_STATUS_TYPE: Final = "LinkResolverStatuses.dns.cosi.dev"
"""COSI type of the statuses: what resolved reports for the link. Same id."""

SPECS: Final = Kind(namespaces.DNS.name, LINK_RESOLVER_SPEC_TYPE)
STATUSES: Final = Kind(namespaces.RUNTIME.name, LINK_RESOLVER_STATUS_TYPE)

CONTROLLER: Final = "link-resolvers"
"""The controller that makes the specs true (and writes the statuses)."""

MAX_LINK_SERVERS: Final = 16
MAX_LINK_DOMAINS: Final = 32
ROUTING_ONLY: Final = "~"
"""The prefix of a routing-only domain, as resolvectl and networkd spell it."""
ROOT_DOMAIN: Final = "."
"""The root, which only a routing-only domain may be (``~.``: every query)."""


def parse_link_server(text: str) -> str:
    """The address in canonical text, as a link's server: without a zone id."""
    if "%" in text:
        raise ValueError(f"must not have a zone id ({text}): the link says where")
    return parse_nameserver(text)


def parse_link_domain(text: str) -> str:
    """The domain in lower case, ``~`` kept in front of a routing-only one."""
    name, routing_only = split_domain(text)
    if routing_only and name == ROOT_DOMAIN:
        return text
    return join_domain(parse_search_domain(name), routing_only)


def split_domain(domain: str) -> tuple[str, bool]:
    """A link domain as resolved takes it: the name and whether it is routing-only."""
    name = domain.removeprefix(ROUTING_ONLY)
    return name, name != domain


def join_domain(name: str, routing_only: bool) -> str:
    """The link domain for resolved's (name, routing_only) pair."""
    return f"{ROUTING_ONLY}{name}" if routing_only else name


def _at_most(limit: int, what: str) -> AfterValidator:
    def check(values: tuple[str, ...]) -> tuple[str, ...]:
        if len(values) > limit:
            raise ValueError(f"has {len(values)} {what}, the limit is {limit}")
        check_unique(values)
        return values

    return AfterValidator(check)


LinkServer = Annotated[str, AfterValidator(parse_link_server)]
"""An IPv4 or IPv6 address without a zone id, in canonical text."""
LinkDomain = Annotated[str, AfterValidator(parse_link_domain)]
"""A domain name in lower case, ``~`` in front when routing-only; ``~.`` for every query."""


class LinkResolverSpec(BaseModel):
    """The DNS settings a client wants systemd-resolved to use for one link."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    link: LinkName
    servers: Annotated[tuple[LinkServer, ...], _at_most(MAX_LINK_SERVERS, "servers")] = ()
    domains: Annotated[tuple[LinkDomain, ...], _at_most(MAX_LINK_DOMAINS, "domains")] = ()
    default_route: StrictBool | None = None
    """Unset: resolved decides (from the link's domains)."""

    @property
    def id(self) -> str:
        """The resource id: the link's name."""
        return self.link


class LinkResolverStatus(BaseModel):
    """What systemd-resolved reports for the link. Conditions (ready, reason) come from the
    runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    link: str
    index: NonNegativeInt | None = None
    """The link's index; None when the daemon's network namespace has no such link."""
    servers: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    """Routing-only ones with ``~`` in front."""
    default_route: StrictBool | None = None
    """Whether resolved sends the queries no domain routes to the link's servers; None when
    there is no link."""

    @property
    def id(self) -> str:
        return self.link


DEFINITIONS: Final = (
    ResourceDefinition(
        SPECS.type,
        SPECS.namespace,
        aliases=("linkresolver", "linkresolvers", "linkdns"),
        spec_model=LinkResolverSpec,
    ),
    ResourceDefinition(STATUSES.type, STATUSES.namespace, writable=False),
)

API: Final = TypedApi(
    service=dns_pb2.DESCRIPTOR.services_by_name["LinkResolverService"],
    specs=SPECS,
    statuses=STATUSES,
    spec_model=LinkResolverSpec,
    status_model=LinkResolverStatus,
    controller=CONTROLLER,
)
"""The typed service cosi.dns.v1alpha1.LinkResolverService over these types."""
