"""The DNS domain's resources: the resolver configuration a client asks for (spec) and what
/etc/resolv.conf says (status).

One node, one resolver
----------------------
The C library's stub resolver reads one file, /etc/resolv.conf, for the whole node, so there
is one resolver spec, with the id ``resolver`` (`RESOLVER_ID`): the id names the thing
configured (the resolver), not the file, which is the driver's business. Any other id is
refused.

Name servers
------------
One to three IP addresses (`MAX_NAMESERVERS`), asked in the order given. Three is what glibc
and musl read (MAXNS); more are **refused**, not silently dropped as those libraries do, so a
spec never says more than the node does. Each address is parsed by the `ipaddress` module
and held in its canonical text (``2001:DB8::0001`` is ``2001:db8::1``); nothing else fits in
the field, so no text can smuggle a second line into the file. An IPv6 address may carry a
zone id (``fe80::1%eth0``) only when it is link-local (fe80::/10), the one place a zone
means something, and the zone must look like an interface name (1 to 15 of
``A-Z a-z 0-9 _ . -``; `ipaddress` itself accepts any text there, a newline included).
Refused as well: the unspecified address (0.0.0.0, ``::``), multicast, IPv4-mapped IPv6
(write the IPv4 address), and an address listed twice.

Search domains
--------------
At most six domains (`MAX_SEARCH_DOMAINS`), at most 255 characters on the ``search`` line
(`MAX_SEARCH_CHARS`): the limits of glibc before 2.26 (MAXDNSRCH and its 256-byte buffer)
and of musl, so every resolver library reads the whole list. Each is a domain name of
RFC 1123 labels (letters, digits and ``-``, 1 to 63 characters, neither starting nor ending
with ``-``), at most 253 characters, without a trailing dot; names are held in lower case
(DNS compares names without case), and one listed twice is refused.

Options
-------
A typed model, never free text: ``ndots`` (0 to 15), ``timeout`` (1 to 30 seconds) and
``attempts`` (1 to 5), the ranges glibc clamps to, unset meaning the library's default; and
the switches glibc knows (``rotate``, ``edns0``, ``single-request``, ...), off by default.

The file
--------
`file_content` is the file a spec stands for, exactly: the `HEADER` comment, one
``nameserver`` line per server, a ``search`` line and an ``options`` line when there is
something to say. `read_back` reads a file as glibc does, for statuses. Statuses and
originals hold what the file holds, unvalidated: a restore must give back exactly what was
there.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, NonNegativeInt, StrictBool, StrictInt

from cosid.api.cosi.dns.v1alpha1 import dns_pb2
from cosid.resources import namespaces
from cosid.resources.files import Base64Bytes, digest
from cosid.resources.names import check_labels
from cosid.resources.typed import TypedApi
from cosid.state.registry import ResourceDefinition
from cosid.state.resource import Kind

RESOLVER_SPEC_TYPE: Final = "ResolverSpecs.dns.cosi.dev"
"""COSI type of the spec: the resolver configuration a client wants. Id: `RESOLVER_ID`."""
RESOLVER_STATUS_TYPE: Final = "ResolverStatuses.dns.cosi.dev"
"""COSI type of the status: what /etc/resolv.conf says. Id: `RESOLVER_ID`."""
RESOLVER_ORIGINAL_TYPE: Final = "ResolverOriginals.dns.cosi.dev"
"""COSI type of what /etc/resolv.conf was before cosid first wrote it (durable: a restart must
not forget what deleting the spec restores). Id: `RESOLVER_ID`."""

RESOLVER_ID: Final = "resolver"
"""The id of the one spec, status and original: a node has one stub resolver configuration."""

SPECS: Final = Kind(namespaces.DNS.name, RESOLVER_SPEC_TYPE)
STATUSES: Final = Kind(namespaces.RUNTIME.name, RESOLVER_STATUS_TYPE)
ORIGINALS: Final = Kind(namespaces.DNS.name, RESOLVER_ORIGINAL_TYPE)

CONTROLLER: Final = "dns"
"""The controller that makes the spec true (and writes the status and the original)."""

RESOLV_CONF_PATH: Final = "/etc/resolv.conf"
"""Where the resolver configuration lives on the node (under the drivers' root prefix)."""
FILE_MODE: Final = 0o644
"""The mode of the file cosid writes: every process that resolves a name must read it."""
HEADER: Final = "# Written by cosid: edits are undone; change cosid's resolver spec instead.\n"
"""The file's first line, so whoever opens it knows where it comes from."""

MAX_NAMESERVERS: Final = 3
MAX_SEARCH_DOMAINS: Final = 6
MAX_SEARCH_CHARS: Final = 255
MAX_DOMAIN_LENGTH: Final = 253
_ZONE: Final = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")
_LINK_LOCAL: Final = ipaddress.IPv6Network("fe80::/10")


def parse_nameserver(text: str) -> str:
    """The address in canonical text; ValueError says what is wrong (completes "the name
    server ...")."""
    address, percent, zone = text.partition("%")
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"must be an IPv4 or IPv6 address, not {text!r}") from None
    if parsed.is_unspecified:
        raise ValueError(f"must be a server's address, not the unspecified address {parsed}")
    if parsed.is_multicast:
        raise ValueError(f"must be a server's address, not the multicast address {parsed}")
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        raise ValueError(f"is IPv4-mapped: write the IPv4 address {parsed.ipv4_mapped} itself")
    if not percent:
        return str(parsed)
    if parsed not in _LINK_LOCAL:
        raise ValueError("may have a zone id (%eth0) only when it is link-local (fe80::/10)")
    if not _ZONE.match(zone) or zone in (".", ".."):
        raise ValueError(
            f"has the zone id {zone!r}: it must be an interface name, "
            "1 to 15 of letters, digits, '_', '.' and '-'"
        )
    return f"{parsed}%{zone}"


def check_nameservers(servers: tuple[str, ...]) -> tuple[str, ...]:
    """The list as given, if its length and uniqueness are right; ValueError otherwise."""
    if not servers:
        raise ValueError("must name at least one server (without one, resolvers ask 127.0.0.1)")
    if len(servers) > MAX_NAMESERVERS:
        raise ValueError(
            f"has {len(servers)} servers; resolvers read only the first {MAX_NAMESERVERS}"
        )
    check_unique(servers)
    return servers


def parse_search_domain(text: str) -> str:
    """The domain in lower case; ValueError says what is wrong (completes "the domain ...")."""
    if not text:
        raise ValueError("must not be empty")
    if len(text) > MAX_DOMAIN_LENGTH:
        raise ValueError(f"is {len(text)} characters long, the limit is {MAX_DOMAIN_LENGTH}")
    name = text.lower()
    check_labels(name)
    return name


def check_search(domains: tuple[str, ...]) -> tuple[str, ...]:
    """The list as given, if it fits every resolver library's limits; ValueError otherwise."""
    if len(domains) > MAX_SEARCH_DOMAINS:
        raise ValueError(
            f"has {len(domains)} domains, the limit is {MAX_SEARCH_DOMAINS} "
            "(older glibc and musl ignore the rest)"
        )
    size = len(" ".join(domains))
    if size > MAX_SEARCH_CHARS:
        raise ValueError(
            f"is {size} characters long on the search line, the limit is {MAX_SEARCH_CHARS}"
        )
    check_unique(domains)
    return domains


def check_unique(values: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"lists {value} twice")
        seen.add(value)


def _within(low: int, high: int) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be {low} to {high}, not {value}")
        return value

    return AfterValidator(check)


Nameserver = Annotated[str, AfterValidator(parse_nameserver)]
"""An IPv4 or IPv6 address (a link-local one with a zone id), in canonical text."""

SearchDomain = Annotated[str, AfterValidator(parse_search_domain)]
"""A domain name of RFC 1123 labels, at most 253 characters, in lower case."""


class ResolverOptions(BaseModel):
    """The resolv.conf options cosid writes, each checked; unset numbers and switches that are
    off are left out of the file, so the library's defaults apply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ndots: Annotated[StrictInt, _within(0, 15)] | None = None
    timeout: Annotated[StrictInt, _within(1, 30)] | None = None
    attempts: Annotated[StrictInt, _within(1, 5)] | None = None
    rotate: StrictBool = False
    edns0: StrictBool = False
    single_request: StrictBool = False
    single_request_reopen: StrictBool = False
    no_tld_query: StrictBool = False
    use_vc: StrictBool = False
    trust_ad: StrictBool = False
    no_aaaa: StrictBool = False

    def words(self) -> list[str]:
        """The options as resolv.conf spells them, in the order of the fields."""
        words: list[str] = []
        for name, value in self:
            if isinstance(value, bool):
                if value:
                    words.append(name.replace("_", "-"))
            elif value is not None:
                words.append(f"{name}:{value}")
        return words


class ResolverSpec(BaseModel):
    """The resolver configuration a client wants in /etc/resolv.conf."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nameservers: Annotated[tuple[Nameserver, ...], AfterValidator(check_nameservers)]
    search: Annotated[tuple[SearchDomain, ...], AfterValidator(check_search)] = ()
    options: ResolverOptions = ResolverOptions()

    @property
    def id(self) -> str:
        """The resource id: always `RESOLVER_ID` (there is one resolver configuration)."""
        return RESOLVER_ID


def file_content(spec: ResolverSpec) -> bytes:
    """The file a spec stands for, byte for byte."""
    lines = [HEADER, *(f"nameserver {server}\n" for server in spec.nameservers)]
    if spec.search:
        lines.append(f"search {' '.join(spec.search)}\n")
    if words := spec.options.words():
        lines.append(f"options {' '.join(words)}\n")
    return "".join(lines).encode()


class ResolverConfig(BaseModel):
    """What a resolv.conf says, read as glibc reads it: the first three addresses on
    ``nameserver`` lines, the last ``search`` or ``domain`` line, the words of every
    ``options`` line; comment lines (``#``, ``;``) and other keywords skipped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


def read_back(content: bytes) -> ResolverConfig:
    """What a resolver makes of the file (bytes that are not UTF-8 are replaced)."""
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in content.decode(errors="replace").splitlines():
        keyword, _, rest = line.replace("\t", " ").partition(" ")
        words = rest.split()
        if keyword == "nameserver" and words and len(nameservers) < MAX_NAMESERVERS:
            if _is_address(words[0]):
                nameservers.append(words[0])
        elif keyword == "search":
            search = words
        elif keyword == "domain":
            search = words[:1]
        elif keyword == "options":
            options.extend(words)
    return ResolverConfig(
        nameservers=tuple(nameservers), search=tuple(search), options=tuple(options)
    )


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return False
    return True


class ResolverStatus(BaseModel):
    """What /etc/resolv.conf is and says. Conditions (ready, reason, ...) come from the
    runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = RESOLV_CONF_PATH
    """The file, as the node sees it (the root prefix left out)."""
    symlink: str | None = None
    """Where /etc/resolv.conf points when it is a symlink, as the link says; None otherwise."""
    file: str | None = None
    """The regular file resolvers read, as the node sees it: `path` itself, or where the
    symlink leads; None when there is none (no file, a dangling link, a link out of the
    root)."""
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    sha256: str | None = None
    """The SHA-256 of the file's content in hex; None when there is no file."""
    mode: NonNegativeInt | None = None
    """The file's permission bits (``st_mode & 0o7777``: 420 is 0644)."""
    original_symlink: str | None = None
    """The symlink deleting the spec puts back; None when there was none (or nothing is
    recorded yet)."""
    original_sha256: str | None = None
    """The SHA-256 of the file deleting the spec restores; None when there was none."""

    @property
    def id(self) -> str:
        return RESOLVER_ID


class ResolverOriginal(BaseModel):
    """What /etc/resolv.conf was before cosid first wrote it: a symlink (and the file it led
    to, when there was one), a regular file, or nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symlink: str | None = None
    """The link's target, as the link said."""
    exists: StrictBool
    """Whether there was a file: /etc/resolv.conf itself, or the one the link led to."""
    content: Base64Bytes = b""
    """That file's content, byte for byte (empty when there was none)."""
    mode: NonNegativeInt = FILE_MODE
    """That file's permission bits."""

    @property
    def id(self) -> str:
        return RESOLVER_ID

    @property
    def sha256(self) -> str | None:
        return digest(self.content) if self.exists else None


DEFINITIONS: Final = (
    ResourceDefinition(
        SPECS.type, SPECS.namespace, aliases=("resolver", "dns"), spec_model=ResolverSpec
    ),
    ResourceDefinition(STATUSES.type, STATUSES.namespace, writable=False),
    ResourceDefinition(ORIGINALS.type, ORIGINALS.namespace, writable=False),
)

API: Final = TypedApi(
    service=dns_pb2.DESCRIPTOR.services_by_name["DnsService"],
    specs=SPECS,
    statuses=STATUSES,
    spec_model=ResolverSpec,
    status_model=ResolverStatus,
    controller=CONTROLLER,
)
"""The typed service cosi.dns.v1alpha1.DnsService over these types."""
