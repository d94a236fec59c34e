"""Per-link DNS under the resolvconf driver: /etc/resolv.conf is one configuration for the
whole node, so there is none per link. Every spec is refused with the reason ``Unsupported``
(a condition that says what to configure), and a delete has nothing to undo."""

from __future__ import annotations

from pyroute2.netlink.rtnl import RTMGRP_LINK

from cosid.drivers.dns.driver import DnsUnsupportedError
from cosid.drivers.network.events import NetlinkChanges
from cosid.resources.dns import RESOLV_CONF_PATH
from cosid.resources.link_resolvers import LinkResolverSpec, LinkResolverStatus


class ResolvConfLinkDriver:
    """`LinkResolverDriver` that refuses: set ``domains.dns.driver: resolved`` for per-link
    DNS."""

    def changes(self) -> NetlinkChanges:
        return NetlinkChanges(RTMGRP_LINK)

    async def read(self, link: str) -> LinkResolverStatus:
        raise DnsUnsupportedError(
            RESOLV_CONF_PATH,
            f"has no per-link DNS (for {link}): set domains.dns.driver to resolved",
        )

    async def write(self, spec: LinkResolverSpec) -> None:
        await self.read(spec.link)

    async def revert(self, link: str) -> None:
        """Nothing was ever written."""
