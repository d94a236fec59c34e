"""The hostname domain's resources: the name a client wants the node to have (spec) and what
the kernel and /etc/hostname have (status).

One node, one hostname: the spec is a singleton, id ``hostname`` (`HOSTNAME_ID`).

Hostnames
---------
A hostname is one or more RFC 1123 labels separated by dots (``web-01`` or
``web-01.example.com``): each label 1 to 63 characters of ``a-z``, ``0-9`` and ``-``, not
starting or ending with ``-``; at most 64 bytes in all, the kernel's limit (HOST_NAME_MAX).
No trailing dot, no underscore, no whitespace.

Hostnames are **normalised to lower case**. DNS compares names without case (RFC 4343), so
``Web-01`` and ``web-01`` are one name; storing one spelling makes the spec, the kernel and
/etc/hostname agree byte for byte, and keeps the node acceptable where only lower case is
(Kubernetes node names, for one). Drift is judged on the exact bytes: a kernel that holds
``WEB-01`` while the spec says ``web-01`` is repaired.

Domains
-------
``domain`` is the kernel's NIS domain name (setdomainname(2), what ``domainname`` prints), not
the DNS search domain. It follows the same label syntax and the same 64-byte limit, but keeps
its case: NIS compares domain names exactly. None (the default) means cosid leaves the
kernel's domain name as it finds it; deleting a spec that had a domain restores the domain
name found before cosid first set it.

Status and originals hold what the kernel and the file hold, unvalidated: the kernel takes any
bytes (its domain name is ``(none)`` until someone sets it), and a restore must give back
exactly what was there.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict

from cosid.api.cosi.hostname.v1alpha1 import hostname_pb2
from cosid.resources import namespaces
from cosid.resources.names import check_labels
from cosid.resources.typed import TypedApi
from cosid.state.registry import ResourceDefinition
from cosid.state.resource import Kind

HOSTNAME_SPEC_TYPE: Final = "HostnameSpecs.hostname.cosi.dev"
"""COSI type of the spec: the hostname (and NIS domain name) a client wants. Id: `HOSTNAME_ID`."""
HOSTNAME_STATUS_TYPE: Final = "HostnameStatuses.hostname.cosi.dev"
"""COSI type of the status: what the kernel and /etc/hostname hold. Id: `HOSTNAME_ID`."""
HOSTNAME_ORIGINAL_TYPE: Final = "HostnameOriginals.hostname.cosi.dev"
"""COSI type of the names found before cosid first set them (durable: a restart must not
forget what deleting the spec restores). Id: `HOSTNAME_ID`."""

HOSTNAME_ID: Final = "hostname"
"""The id of the one spec, status and original."""

SPECS: Final = Kind(namespaces.HOSTNAME.name, HOSTNAME_SPEC_TYPE)
STATUSES: Final = Kind(namespaces.RUNTIME.name, HOSTNAME_STATUS_TYPE)
ORIGINALS: Final = Kind(namespaces.HOSTNAME.name, HOSTNAME_ORIGINAL_TYPE)

CONTROLLER: Final = "hostname"
"""The controller that makes the specs true (and writes statuses and originals)."""

MAX_NAME_BYTES: Final = 64
"""HOST_NAME_MAX: the kernel refuses longer host and domain names (EINVAL)."""


def parse_hostname(text: str) -> str:
    """The hostname in lower case; ValueError says what is wrong (completes "the hostname ...")."""
    return _check_labels(text).lower()


def parse_domain(text: str) -> str:
    """The NIS domain name as given; ValueError says what is wrong (completes "the domain ...")."""
    return _check_labels(text)


def _check_labels(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    size = len(text.encode(errors="surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise ValueError(f"is {size} bytes long, the limit is {MAX_NAME_BYTES}")
    check_labels(text)
    return text


Hostname = Annotated[str, AfterValidator(parse_hostname)]
"""An RFC 1123 hostname of at most 64 bytes, in lower case."""

Domain = Annotated[str, AfterValidator(parse_domain)]
"""A NIS domain name: RFC 1123 labels, at most 64 bytes, case kept."""


def file_content(hostname: str) -> str:
    """What /etc/hostname holds for a hostname (hostname(5): the name and a newline)."""
    return f"{hostname}\n"


class HostnameSpec(BaseModel):
    """The hostname a client wants the node to have."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hostname: Hostname
    domain: Domain | None = None
    """The kernel's NIS domain name; None leaves it as it is."""

    @property
    def id(self) -> str:
        """The resource id: always `HOSTNAME_ID` (there is one hostname)."""
        return HOSTNAME_ID


class HostnameStatus(BaseModel):
    """What the kernel and /etc/hostname hold. Conditions (ready, reason, ...) come from the
    runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hostname: str
    """The kernel's hostname (in cosid's UTS namespace)."""
    domain: str
    """The kernel's NIS domain name; ``(none)`` when never set."""
    file: str | None = None
    """The content of /etc/hostname under the root prefix; None when there is no such file."""

    @property
    def id(self) -> str:
        return HOSTNAME_ID

    @property
    def file_exists(self) -> bool:
        return self.file is not None


class HostnameOriginal(BaseModel):
    """What the kernel and /etc/hostname held before cosid first set them: what deleting the
    spec restores (file None: there was no file, so deleting the spec removes it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hostname: str
    domain: str
    file: str | None = None


DEFINITIONS: Final = (
    ResourceDefinition(SPECS.type, SPECS.namespace, aliases=("hostname",), spec_model=HostnameSpec),
    ResourceDefinition(STATUSES.type, STATUSES.namespace, writable=False),
    ResourceDefinition(ORIGINALS.type, ORIGINALS.namespace, writable=False),
)

API: Final = TypedApi(
    service=hostname_pb2.DESCRIPTOR.services_by_name["HostnameService"],
    specs=SPECS,
    statuses=STATUSES,
    spec_model=HostnameSpec,
    status_model=HostnameStatus,
    controller=CONTROLLER,
)
"""The typed service cosi.hostname.v1alpha1.HostnameService over these types."""
