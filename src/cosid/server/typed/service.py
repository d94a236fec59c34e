"""One servicer for every domain's typed service: Get, List, Watch, Apply and Delete.

The RPCs read and write the same COSI resources as cosi.resource.State: specs (owner "", in
the domain's durable namespace), with statuses and conditions joined in (see `views`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf.message import Message
from structlog.contextvars import bind_contextvars

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.api.cosi.resource import resource_pb2
from cosid.resources.typed import Admission, TypedApi
from cosid.resources.validation import FieldViolation
from cosid.server import rpc
from cosid.server.errors import InvalidArgumentError, StatusError
from cosid.server.limits import Limits
from cosid.server.quotas import ResourceQuota
from cosid.server.typed.apply import plan, validate_items
from cosid.server.typed.convergence import describe_failure, wait_converged, wait_seconds
from cosid.server.typed.views import Views
from cosid.server.typed.watch import watch_views
from cosid.server.validation import Violations, query_from_request
from cosid.state.errors import NotFoundError
from cosid.state.query import ResourceQuery
from cosid.state.resource import Pointer, Resource
from cosid.state.state import State

Context = grpc.aio.ServicerContext[Any, Any]

NO_ID_QUERY = resource_pb2.IDQuery()


class TypedService:
    def __init__(
        self,
        state: State,
        api: TypedApi,
        limits: Limits,
        quota: ResourceQuota,
        controllers: Sequence[str] = (),
        admission: Admission[Any] | None = None,
    ) -> None:
        self._state = state
        self._api = api
        self._limits = limits
        self._quota = quota
        self._admission = admission
        self._views = Views(state, api, controllers)

    def _pointer(self, id: str) -> Pointer:
        violations = Violations()
        violations.text("id", id, self._limits.max_id_length)
        violations.raise_if_any()
        pointer = self._views.spec_pointer(id)
        bind_contextvars(resource=str(pointer))
        return pointer

    async def _spec(self, id: str) -> Resource:
        try:
            return await self._state.get(self._pointer(id))
        except NotFoundError:
            raise StatusError(
                grpc.StatusCode.NOT_FOUND, f"{self._api.name} {id!r} doesn't exist"
            ) from None

    @rpc.unary(mutates=False)
    async def Get(self, request: common_pb2.GetRequest, context: Context) -> Message:
        return await self._views.of(await self._spec(request.id))

    @rpc.stream
    async def List(
        self, request: common_pb2.ListRequest, context: Context
    ) -> AsyncIterator[Message]:
        query = query_from_request(request.label_query, NO_ID_QUERY, "", self._limits)
        if request.observed:
            if not request.label_query:
                query = ResourceQuery((self._api.observed_query,))
            for status in await self._state.list(self._api.statuses, query):
                yield await self._views.of_status(status)
            return
        for spec in await self._state.list(self._api.specs, query):
            yield await self._views.of(spec)

    @rpc.watch
    async def Watch(
        self, request: common_pb2.WatchRequest, context: Context
    ) -> AsyncIterator[Message]:
        query = query_from_request(request.label_query, NO_ID_QUERY, "", self._limits)
        if request.id:
            self._pointer(request.id)
        events = await watch_views(
            self._state,
            self._views,
            lambda id: not request.id or id == request.id,
            request.bootstrap,
            query,
        )
        async for event in events:
            yield event

    @rpc.unary(mutates=True)
    async def Apply(self, request: Any, context: Context) -> Message:
        options: common_pb2.ApplyOptions = request.options
        requested = _wait_timeout(options)
        items = validate_items(self._api, request.items, self._limits, self._admission)
        planned = await plan(self._api, self._state, items, diffs=options.dry_run)
        changes = [p.change() for p in planned]
        bind_contextvars(
            resource=str(self._api.specs),
            items=len(planned),
            dry_run=options.dry_run,
            changes={p.resource.metadata.id: common_pb2.Action.Name(p.action) for p in planned},
        )
        self._quota.check_creations(
            [p.resource.pointer.kind for p in planned if p.action == common_pb2.ACTION_CREATE]
        )
        if options.dry_run:
            return self._api.apply_response_message(changes=changes)
        written = await self._state.write_all(
            [p.resource for p in planned if p.action != common_pb2.ACTION_UNCHANGED]
        )
        by_id = {resource.metadata.id: resource for resource in written}
        stored = [by_id.get(p.resource.metadata.id, p.resource) for p in planned]
        if options.wait:
            timeout = wait_seconds(requested, context.time_remaining())
            await wait_converged(self._state, self._views, stored, timeout, changes)
        items_out = [await self._views.current(r.metadata.id) for r in stored]
        return self._api.apply_response_message(
            items=[item for item in items_out if item is not None], changes=changes
        )

    @rpc.unary(mutates=True)
    async def Delete(
        self, request: common_pb2.DeleteRequest, context: Context
    ) -> common_pb2.DeleteResponse:
        spec = await self._spec(request.id)  # NOT_FOUND before anything changes
        pointer = spec.pointer
        bind_contextvars(version=spec.version)
        timeout = wait_seconds(None, context.time_remaining())
        try:
            async with asyncio.timeout(timeout):
                await self._state.teardown_and_destroy(pointer)
        except TimeoutError:
            raise await self._still_undoing(request.id, timeout) from None
        return common_pb2.DeleteResponse()

    async def _still_undoing(self, id: str, seconds: float) -> StatusError:
        failing = [c for c in await self._views.conditions(id) if c and c.message and not c.ready]
        why = f" ({describe_failure(id, failing[0])})" if failing else ""
        view = await self._views.current(id)
        return StatusError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"{self._api.name} {id} is being deleted, its undo not done within {seconds:g} s"
            f"{why}; it stays in phase tearingDown: call Delete again to finish",
            [] if view is None else [view],
        )


def _wait_timeout(options: common_pb2.ApplyOptions) -> float | None:
    """The wait the request asks for, checked before anything is stored."""
    if not options.HasField("wait_timeout"):
        return None
    try:
        seconds = options.wait_timeout.ToTimedelta().total_seconds()
    except (ValueError, OverflowError):
        seconds = -1.0
    if seconds < 0:
        raise InvalidArgumentError(
            [FieldViolation("options.wait_timeout", "must be a duration of zero or more")]
        )
    return seconds
