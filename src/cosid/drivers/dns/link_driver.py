"""The per-link DNS driver interface: read what a resolver service uses for a link, give it a
link resolver spec, make it forget cosid's settings; errors that say why not."""

from __future__ import annotations

from typing import Protocol

from cosid.drivers.dns.driver import DnsError
from cosid.resources.link_resolvers import LinkResolverSpec, LinkResolverStatus
from cosid.runtime.controller import ChangeStream


class DnsLinkNotFoundError(DnsError):
    """The daemon's network namespace (or the resolver service) has no link of that name."""

    reason = "LinkNotFound"


class DnsLinkBusyError(DnsError):
    """The resolver service refuses to take settings for the link (it is the loopback link,
    or another manager owns its DNS settings)."""

    reason = "LinkBusy"


class LinkResolverDriver(Protocol):
    """Per-link DNS settings of a resolver service, the link named as in the daemon's network
    namespace. Besides the errors below, any method may raise another `DnsError` subclass
    (`DnsUnsupportedError` when the configured resolver has no per-link settings) or a
    `cosid.drivers.dbus.BusError`.
    """

    def changes(self) -> ChangeStream:
        """The links' changes, watched from this call on: a link appearing lets a spec that
        waits for it go on."""
        ...

    async def read(self, link: str) -> LinkResolverStatus:
        """What the resolver uses for `link`. Raises DnsLinkNotFoundError when there is none."""
        ...

    async def write(self, spec: LinkResolverSpec) -> None:
        """Give the spec's link the spec's servers, domains and (when set) default route.
        Raises DnsLinkNotFoundError or DnsLinkBusyError."""
        ...

    async def revert(self, link: str) -> None:
        """Make the resolver forget what `write` gave `link`; nothing to do when the link is
        gone (the resolver forgot it with the link)."""
        ...
