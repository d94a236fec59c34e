"""routes: puts each RouteSpec's route in its table, and undoes that when the spec is deleted.

Reads: RouteSpecs (strong). Writes: RouteOriginals (durable: whether cosid added the route,
else the route it found there, so that deleting the spec deletes what cosid added and puts
back what it replaced, even after a restart). A found route no spec can say (multipath, a
local or broadcast route) is left as cosid made it. The statuses are the network observer's
(`cosid.observers.network`).

Ordering: a route whose output link does not exist or is down waits (``WaitingForLink``), one
whose gateway the kernel cannot reach waits (``WaitingForGateway``); no timer retries them: the
kernel announces links and addresses changing (RTMGRP_LINK, RTMGRP_IPV4_IFADDR,
RTMGRP_IPV6_IFADDR), and they converge then.

Drift: the kernel announces every change of the routes (RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE);
the runtime reconciles every item on each burst (`AnnouncesChanges`), each reading the routes
from the driver's mirror, so an ``ip route del`` behind cosid's back is repaired at once.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cosid.drivers.network.driver import LinkChanges
from cosid.drivers.network.route_driver import (
    RouteDriver,
    RouteError,
    RouteGatewayUnreachableError,
    RouteLinkDownError,
    RouteLinkNotFoundError,
    RouteState,
)
from cosid.resources.document import from_spec, to_spec
from cosid.resources.routes import (
    CONTROLLER,
    ORIGINALS,
    SPECS,
    RouteOriginal,
    RouteSpec,
)
from cosid.runtime.controller import Input, Outcome, Output, Strength
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Kind, Pointer, Resource

DEFAULT_RESYNC_SECONDS = 300.0
"""The kernel announces every route change; the resync is only a safety net."""

_WAITING_FOR_LINK = (RouteLinkNotFoundError, RouteLinkDownError)
_NOT_THERE_TO_RESTORE = (*_WAITING_FOR_LINK, RouteGatewayUnreachableError)
"""Why a found route cannot be put back: the kernel would have dropped it meanwhile too."""


class RouteWaitingForLinkError(RouteError):
    """The spec's output link does not exist yet, or is down."""

    reason = "WaitingForLink"


class RouteWaitingForGatewayError(RouteError):
    """The kernel cannot reach the spec's gateway yet (no address on its network, no route)."""

    reason = "WaitingForGateway"


class RouteNotAppliedError(RouteError):
    """The kernel took the route, yet shows it unlike the spec."""

    reason = "NotApplied"


def _pointer(kind: Kind, spec: RouteSpec) -> Pointer:
    return Pointer(kind.namespace, kind.type, spec.id)


class RoutesController:
    name = CONTROLLER
    inputs = (Input(SPECS, Strength.STRONG),)
    outputs = (Output(ORIGINALS),)
    watched_paths: tuple[Path, ...] = ()  # routes are not files: see `changes`

    def __init__(
        self, driver: RouteDriver, resync_seconds: float | None = DEFAULT_RESYNC_SECONDS
    ) -> None:
        self._driver = driver
        self.resync_seconds = resync_seconds

    def changes(self) -> LinkChanges:
        """The links', addresses' and routes' changes, watched from this call on
        (`AnnouncesChanges`: the runtime reconciles every item on each)."""
        return self._driver.changes()

    async def reconcile(self, item: Resource, writer: OutputWriter) -> Outcome:
        spec = from_spec(RouteSpec, item.spec)
        found = await self._driver.find(spec.key, spec.link)
        if found is not None and not _differences(spec, found):
            return Outcome.UNCHANGED
        original = await self._original(writer, spec)
        if original is None:  # recorded first: never a route cosid would not undo
            await writer.put(_pointer(ORIGINALS, spec), to_spec(_original_of(spec, found)))
        try:
            await self._driver.add(spec)
        except _WAITING_FOR_LINK as error:
            link = spec.link or f"to {spec.gateway}"
            raise RouteWaitingForLinkError(
                spec.id, f"waits for its link {link}: {error.detail}", error.errno
            ) from None
        except RouteGatewayUnreachableError as error:
            raise RouteWaitingForGatewayError(
                spec.id, f"waits for its gateway {spec.gateway}: {error.detail}", error.errno
            ) from None
        if differences := _differences(spec, await self._driver.find(spec.key, spec.link)):
            raise RouteNotAppliedError(spec.id, f"the kernel shows {', '.join(differences)}")
        return Outcome.APPLIED

    async def teardown(self, item: Resource, writer: OutputWriter) -> None:
        spec = from_spec(RouteSpec, item.spec)
        original = await self._original(writer, spec)
        if original is not None and original.added:
            await self._driver.delete(spec)
        elif original is not None and original.found is not None:
            with contextlib.suppress(*_NOT_THERE_TO_RESTORE):
                await self._driver.add(original.found)
        await writer.destroy(_pointer(ORIGINALS, spec))

    @staticmethod
    async def _original(writer: OutputWriter, spec: RouteSpec) -> RouteOriginal | None:
        remembered = await writer.get(_pointer(ORIGINALS, spec))
        return None if remembered is None else from_spec(RouteOriginal, remembered.spec)


def _original_of(spec: RouteSpec, found: RouteState | None) -> RouteOriginal:
    """What to remember before changing the route under the spec's key."""
    key = spec.key._asdict()
    if found is None:
        return RouteOriginal(**key, added=True)
    return RouteOriginal(**key, added=False, found=_spec_of(found))


def _spec_of(found: RouteState) -> RouteSpec | None:
    """The found route as a spec (to put it back); None when no spec can say it."""
    if "multipath" in found.flags:
        return None
    try:
        return RouteSpec(**found.key._asdict(), **_settings_of(found))
    except ValidationError:
        return None


def _settings_of(found: RouteState) -> dict[str, Any]:
    """What the kernel shows of a route beyond its key, by the spec's field names."""
    return {
        "family": found.family,
        "type": found.type,
        "gateway": found.gateway,
        "link": found.link,
        "source": found.source,
        "scope": found.scope,
        "protocol": found.protocol,
    }


def _differences(spec: RouteSpec, found: RouteState | None) -> list[str]:
    """What of the kernel's route differs from the spec: its type, protocol, scope, gateway,
    source, and its link when the spec names one (else the kernel picks it)."""
    if found is None:
        return ["no such route"]
    wanted = {
        "type": spec.type,
        "protocol": spec.protocol,
        "scope": spec.scope,
        "gateway": spec.gateway,
        "source": spec.source,
    }
    if spec.link is not None:
        wanted["link"] = spec.link
    return [
        f"{field} {getattr(found, field) or '(none)'}"
        for field, value in wanted.items()
        if getattr(found, field) != value
    ]
