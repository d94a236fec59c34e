"""addresses: puts each AddressSpec's address on its link, and deletes it with the spec when
cosid added it.

Reads: AddressSpecs (strong). Writes: AddressOriginals (durable: whether cosid added the
address or found it there, so that deleting the spec deletes only what cosid added, even
after a restart). The statuses are the network observer's (`cosid.observers.network`).

Ordering: an address whose link does not exist waits (reason ``WaitingForLink``); no timer
retries it: the kernel announces the link appearing (RTMGRP_LINK), and it converges then.

Drift: the kernel announces every change of the addresses (RTMGRP_IPV4_IFADDR,
RTMGRP_IPV6_IFADDR); the runtime reconciles every item on each burst (`AnnouncesChanges`), so
an ``ip addr del`` behind cosid's back is repaired at once.
"""

from __future__ import annotations

from pathlib import Path

from cosid.drivers.network.driver import (
    AddressDriver,
    AddressError,
    AddressLinkNotFoundError,
    AddressState,
    LinkChanges,
)
from cosid.resources.addresses import (
    CONTROLLER,
    ORIGINALS,
    SPECS,
    AddressOriginal,
    AddressSpec,
)
from cosid.resources.document import from_spec, to_spec
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Pointer, Resource

DEFAULT_RESYNC_SECONDS = 300.0
"""The kernel announces every address change; the resync is only a safety net."""


class AddressWaitingForLinkError(AddressError):
    """The spec's link does not exist yet."""

    reason = "WaitingForLink"


class AddressNotAppliedError(AddressError):
    """The kernel took the address, yet shows it unlike the spec (another scope, a flag
    missing)."""

    reason = "NotApplied"


def _pointer(kind: Kind, spec: AddressSpec) -> Pointer:
    return Pointer(kind.namespace, kind.type, spec.id)


class AddressesController:
    name = CONTROLLER
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs = (Output(ORIGINALS),)
    watched_paths: tuple[Path, ...] = ()  # addresses are not files: see `changes`

    def __init__(
        self, driver: AddressDriver, resync_seconds: float | None = DEFAULT_RESYNC_SECONDS
    ) -> None:
        self._driver = driver
        self.resync_seconds = resync_seconds

    def changes(self) -> LinkChanges:
        """The links' and addresses' changes, watched from this call on (`AnnouncesChanges`:
        the runtime reconciles every item on each)."""
        return self._driver.changes()

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        spec = from_spec(AddressSpec, item.spec)
        try:
            found = await self._driver.find(spec.link, spec.address)
        except AddressLinkNotFoundError:
            raise AddressWaitingForLinkError(spec.id, f"waits for its link {spec.link}") from None
        if found is not None and not _differences(spec, found):
            return Outcome.UNCHANGED
        original = await self._original(writer, spec)
        if found is None:
            if original is None:  # recorded first: never an address cosid would not delete
                await self._remember(writer, AddressOriginal(**_key(spec), added=True))
            await self._driver.add(spec)
        elif original is None:
            await self._remember(writer, AddressOriginal(**_key(spec), added=False))
        after = await self._driver.find(spec.link, spec.address)
        if after is None or (differences := _differences(spec, after)):
            shown = "no such address" if after is None else f"another {', '.join(differences)}"
            raise AddressNotAppliedError(spec.id, f"the kernel shows {shown}")
        return Outcome.APPLIED

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        spec = from_spec(AddressSpec, item.spec)
        original = await self._original(writer, spec)
        if original is not None and original.added:
            await self._driver.delete(spec.link, spec.address)
        await writer.destroy(_pointer(ORIGINALS, spec))

    @staticmethod
    async def _remember(writer: OutputWriter, original: AddressOriginal) -> None:
        await writer.put(
            Pointer(ORIGINALS.namespace, ORIGINALS.type, original.id), to_spec(original)
        )

    @staticmethod
    async def _original(writer: OutputWriter, spec: AddressSpec) -> AddressOriginal | None:
        remembered = await writer.get(_pointer(ORIGINALS, spec))
        return None if remembered is None else from_spec(AddressOriginal, remembered.spec)


def _key(spec: AddressSpec) -> dict[str, str]:
    return {"link": spec.link, "address": spec.address}


def _differences(spec: AddressSpec, found: AddressState) -> list[str]:
    """What of the kernel's address differs from the spec: its scope, or a flag of the spec's
    it lacks (the kernel's own flags, permanent or tentative, are not the spec's business)."""
    differences = ["scope"] if found.scope != spec.scope else []
    return differences + [f"flag {flag}" for flag in spec.flags if flag not in found.flags]
