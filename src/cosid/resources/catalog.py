"""Every domain that has a typed service: the daemon serves them all, and cosictl finds the
service for a document by its spec type here."""

from __future__ import annotations

from typing import Final

from cosid.resources import (
    addresses,
    dns,
    hostname,
    link_resolvers,
    links,
    modules,
    motd,
    mounts,
    routes,
    sysctl,
)
from cosid.resources.typed import TypedApi

TYPED_APIS: Final[tuple[TypedApi, ...]] = (
    sysctl.API,
    hostname.API,
    motd.API,
    dns.API,
    link_resolvers.API,
    modules.API,
    mounts.API,
    links.API,
    addresses.API,
    routes.API,
)

BY_SPEC_TYPE: Final[dict[str, TypedApi]] = {api.specs.type: api for api in TYPED_APIS}
