"""links: makes each LinkSpec's link exist and hold the spec's settings (up, mtu, master,
mac), and undoes that when the spec is deleted.

Reads: LinkSpecs (strong). Writes: LinkOriginals (durable: whether cosid created the link,
else the settings it found, so that deleting the spec deletes or restores it even after a
restart). The statuses are the network observer's (`cosid.observers.network`).

Which links are cosid's: those it created, recorded before creating them. A physical link,
or an existing link of the spec's kind, is configured but never deleted; deleting its spec
puts back the settings cosid found (master, mtu, mac, up).

Ordering: a link whose master (or parent, for vlan, macvlan and vxlan's dev) does not exist
waits (reasons ``WaitingForMaster``, ``WaitingForParent``), and a physical link that is not
there ``LinkNotFound``; no timer retries them: the kernel announces the link appearing.

Drift: the kernel announces every change of the links (rtnetlink's RTMGRP_LINK). `changes()`
yields on each burst, and the runtime reconciles every item then (`AnnouncesChanges`), so an
``ip link set X down`` behind cosid's back is repaired at once.
"""

from __future__ import annotations

from pathlib import Path

from cosid.drivers.network import (
    LinkChanges,
    LinkDriver,
    LinkError,
    LinkNotFoundError,
    LinkState,
)
from cosid.resources.document import from_spec, to_spec
from cosid.resources.links import (
    CONTROLLER,
    ORIGINALS,
    SPECS,
    LinkOriginal,
    LinkSpec,
)
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Pointer, Resource

DEFAULT_RESYNC_SECONDS = 300.0
"""The kernel announces every link change; the resync is only a safety net."""


class LinkWaitingForMasterError(LinkError):
    """The spec's master does not exist yet."""

    reason = "WaitingForMaster"


class LinkWaitingForParentError(LinkError):
    """The link to create names a parent (vlan, macvlan) or dev (vxlan) that does not exist
    yet."""

    reason = "WaitingForParent"


class LinkKindMismatchError(LinkError):
    """A link of that name exists with another kind than the spec's."""

    reason = "KindMismatch"


class LinkNotAppliedError(LinkError):
    """The kernel took every change, yet shows the link unlike the spec."""

    reason = "NotApplied"


def _pointer(kind: Kind, name: str) -> Pointer:
    return Pointer(kind.namespace, kind.type, name)


class LinksController:
    name = CONTROLLER
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs = (Output(ORIGINALS),)
    watched_paths: tuple[Path, ...] = ()  # links are not files: see `changes`

    def __init__(
        self, driver: LinkDriver, resync_seconds: float | None = DEFAULT_RESYNC_SECONDS
    ) -> None:
        self._driver = driver
        self.resync_seconds = resync_seconds

    def changes(self) -> LinkChanges:
        """The links' changes, watched from this call on (`AnnouncesChanges`: the runtime
        reconciles every item on each)."""
        return self._driver.changes()

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        spec = from_spec(LinkSpec, item.spec)
        link = await self._driver.find(spec.name)
        if link is not None and spec.kind not in ("physical", link.kind):
            raise LinkKindMismatchError(spec.name, f"exists as a {link.kind or 'device'} link")
        if link is not None and not _differences(spec, link):
            return Outcome.UNCHANGED
        await self._apply(spec, link, await self._original(writer, spec.name), writer)
        if differences := _differences(spec, await self._driver.find(spec.name)):
            raise LinkNotAppliedError(
                spec.name, f"the kernel shows another {', '.join(differences)}"
            )
        return Outcome.APPLIED

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        spec = from_spec(LinkSpec, item.spec)
        original = await self._original(writer, spec.name)
        if original is not None and original.created:
            await self._driver.delete(spec.name)
        elif original is not None:
            await self._restore(original)
        await writer.destroy(_pointer(ORIGINALS, spec.name))

    async def _apply(
        self,
        spec: LinkSpec,
        link: LinkState | None,
        original: LinkOriginal | None,
        writer: OutputWriter,
    ) -> None:
        """Create the link if it is missing (recorded first: a crash in between leaves a record
        of a link that may not exist, never a link cosid would not delete), then set what
        differs; the master last but one, up last, so a port joins configured."""
        if spec.master is not None and await self._driver.find(spec.master) is None:
            raise LinkWaitingForMasterError(spec.name, f"waits for its master {spec.master}")
        if link is None:
            if spec.kind == "physical":
                raise LinkNotFoundError(spec.name, "no such link (a physical link is not created)")
            await self._check_parents(spec)
            if original is None:
                await self._remember(writer, LinkOriginal(name=spec.name, created=True))
            await self._driver.create(spec)
            link = await self._driver.find(spec.name)
            if link is None:
                raise LinkNotFoundError(spec.name, "created, then gone")
        elif original is None:
            await self._remember(writer, _found(link))
        await self._configure(spec, link)

    async def _configure(self, spec: LinkSpec, link: LinkState) -> None:
        if spec.mtu is not None and link.mtu != spec.mtu:
            await self._driver.set_mtu(spec.name, spec.mtu)
        if spec.mac is not None and link.mac != spec.mac:
            await self._driver.set_mac(spec.name, spec.mac)
        if link.master != spec.master:
            await self._driver.set_master(spec.name, spec.master)
        if link.up != spec.up:
            await self._driver.set_up(spec.name, spec.up)

    async def _restore(self, original: LinkOriginal) -> None:
        """Put back the settings cosid found on a link it did not create (if it still exists;
        a master that is gone meanwhile leaves it without one)."""
        link = await self._driver.find(original.name)
        if link is None:
            return
        if original.mtu is not None and link.mtu != original.mtu:
            await self._driver.set_mtu(original.name, original.mtu)
        if original.mac is not None and link.mac != original.mac:
            await self._driver.set_mac(original.name, original.mac)
        if link.master != original.master:
            try:
                await self._driver.set_master(original.name, original.master)
            except LinkNotFoundError:
                await self._driver.set_master(original.name, None)
        if original.up is not None and link.up != original.up:
            await self._driver.set_up(original.name, original.up)

    async def _check_parents(self, spec: LinkSpec) -> None:
        parent = (
            (spec.vlan and spec.vlan.parent)
            or (spec.macvlan and spec.macvlan.parent)
            or (spec.vxlan and spec.vxlan.dev)
        )
        if parent and await self._driver.find(parent) is None:
            raise LinkWaitingForParentError(spec.name, f"waits for its parent {parent}")

    @staticmethod
    async def _remember(writer: OutputWriter, original: LinkOriginal) -> None:
        await writer.put(_pointer(ORIGINALS, original.name), to_spec(original))

    @staticmethod
    async def _original(writer: OutputWriter, name: str) -> LinkOriginal | None:
        remembered = await writer.get(_pointer(ORIGINALS, name))
        return None if remembered is None else from_spec(LinkOriginal, remembered.spec)


def _found(link: LinkState) -> LinkOriginal:
    return LinkOriginal(
        name=link.name,
        created=False,
        up=link.up,
        mtu=link.mtu,
        master=link.master,
        mac=link.mac,
    )


def _differences(spec: LinkSpec, link: LinkState | None) -> list[str]:
    """The settings in which the kernel's link differs from the spec."""
    if link is None:
        return ["link (none)"]
    wanted = {"up": spec.up, "mtu": spec.mtu, "mac": spec.mac, "master": spec.master}
    kept = {"mtu", "mac"}  # None keeps the link's
    return [
        field
        for field, value in wanted.items()
        if not (value is None and field in kept) and getattr(link, field) != value
    ]
