"""link-resolvers: gives systemd-resolved each LinkResolverSpec's servers, domains and default
route for its link, and makes resolved forget them when the spec is deleted.

Reads: LinkResolverSpecs (strong). Writes: LinkResolverStatuses (what resolved reports for the
link). No originals: deleting a spec reverts the link in resolved (``RevertLink``), which puts
back what the link's manager (networkd, or nobody) gave it; cosid remembers nothing of it.

Ordering: a spec whose link does not exist waits (reason ``WaitingForLink``); the kernel
announces the link appearing (RTMGRP_LINK, `changes`), and it converges then.

Drift: resolved forgets per-link settings when it restarts or when networkd reconfigures the
link, and announces neither to cosid; the resync reads them back and repairs (``Repaired``).
With the resolvconf DNS driver every spec is refused (``Unsupported``): resolv.conf has no
per-link settings.
"""

from __future__ import annotations

from pathlib import Path

from cosid.drivers.dns.driver import DnsError
from cosid.drivers.dns.link_driver import DnsLinkNotFoundError, LinkResolverDriver
from cosid.resources.document import from_spec, to_spec
from cosid.resources.link_resolvers import (
    CONTROLLER,
    SPECS,
    STATUSES,
    LinkResolverSpec,
    LinkResolverStatus,
)
from cosid.runtime.controller import ChangeStream, Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Pointer, Resource

DEFAULT_RESYNC_SECONDS = 60.0
"""How soon a restart of resolved (which forgets every per-link setting) is repaired."""


class LinkResolverWaitingForLinkError(DnsError):
    """The spec's link does not exist yet."""

    reason = "WaitingForLink"


class LinkResolverNotAppliedError(DnsError):
    """resolved took the settings, yet reports others for the link."""

    reason = "NotApplied"


def _pointer(link: str) -> Pointer:
    return Pointer(STATUSES.namespace, STATUSES.type, link)


class LinkResolversController:
    name = CONTROLLER
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs = (Output(STATUSES),)
    watched_paths: tuple[Path, ...] = ()  # links are not files: see `changes`

    def __init__(
        self, driver: LinkResolverDriver, resync_seconds: float | None = DEFAULT_RESYNC_SECONDS
    ) -> None:
        self._driver = driver
        self.resync_seconds = resync_seconds

    def changes(self) -> ChangeStream:
        """The links' changes, watched from this call on (`AnnouncesChanges`)."""
        return self._driver.changes()

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        spec = from_spec(LinkResolverSpec, item.spec)
        previous = await writer.get(_pointer(spec.link))
        try:
            return await self._apply(spec, writer, previous)
        except DnsLinkNotFoundError:
            await writer.put(_pointer(spec.link), to_spec(LinkResolverStatus(link=spec.link)))
            raise LinkResolverWaitingForLinkError(
                spec.link, f"waits for its link {spec.link}"
            ) from None

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        spec = from_spec(LinkResolverSpec, item.spec)
        await self._driver.revert(spec.link)
        await writer.destroy(_pointer(spec.link))

    async def _apply(
        self, spec: LinkResolverSpec, writer: OutputWriter, previous: Resource | None
    ) -> Outcome:
        found = await self._driver.read(spec.link)
        if holds(spec, found):
            await writer.put(_pointer(spec.link), to_spec(found))
            return Outcome.UNCHANGED
        await self._driver.write(spec)
        after = await self._driver.read(spec.link)
        await writer.put(_pointer(spec.link), to_spec(after))
        if not holds(spec, after):
            raise LinkResolverNotAppliedError(
                spec.link,
                f"resolved reports servers {list(after.servers)}, domains {list(after.domains)}, "
                f"default route {after.default_route}",
            )
        drifted = previous is not None and holds(spec, from_spec(LinkResolverStatus, previous.spec))
        return Outcome.REPAIRED if drifted else Outcome.APPLIED


def holds(spec: LinkResolverSpec, found: LinkResolverStatus) -> bool:
    """Whether resolved uses the spec's settings for the link (its default route only when the
    spec sets one)."""
    return (
        found.index is not None
        and found.servers == spec.servers
        and found.domains == spec.domains
        and spec.default_route in (None, found.default_route)
    )
