"""cosi.resource.State: the generic COSI API over the store, wire-compatible with the spec."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Protocol

import grpc
from structlog.contextvars import bind_contextvars

from cosid.api.cosi.resource import state_pb2, state_pb2_grpc
from cosid.resources.document import from_spec
from cosid.resources.typed import Admission
from cosid.server import rpc
from cosid.server.errors import DeniedError, InvalidArgumentError, WatcherOverrunError
from cosid.server.event_cache import WireEventCache
from cosid.server.limits import Limits
from cosid.server.quotas import ResourceQuota
from cosid.server.validation import (
    check_single_watch_options,
    check_spec,
    kind_from_request,
    owner_from_request,
    pointer_from_request,
    query_from_request,
    resource_from_request,
)
from cosid.state.codec import phase_from_wire, resource_to_wire
from cosid.state.errors import NotFoundError
from cosid.state.events import EventType
from cosid.state.registry import Registry, ResourceDefinition
from cosid.state.resource import Kind, Pointer, Resource
from cosid.state.state import (
    EventBatch,
    State,
    WatchKindOptions,
    WatchOptions,
)

Context = grpc.aio.ServicerContext[Any, Any]

LEGACY_HIDDEN_EVENTS = frozenset({EventType.BOOTSTRAPPED, EventType.ERRORED})
"""Clients that send api_version 0 predate these event types."""


class OwnerOptions(Protocol):
    @property
    def owner(self) -> str: ...


class TargetedRequest(Protocol):
    """Destroy, Teardown and TeardownAndDestroy requests: a resource and an owner."""

    @property
    def namespace(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def options(self) -> OwnerOptions: ...


class StateService(state_pb2_grpc.StateServicer):
    def __init__(
        self,
        state: State,
        registry: Registry,
        limits: Limits,
        quota: ResourceQuota,
        admissions: Iterable[Admission[Any]] = (),
    ) -> None:
        self._state = state
        self._registry = registry
        self._limits = limits
        self._quota = quota
        self._admissions = {admission.specs: admission for admission in admissions}
        self._wire_events = WireEventCache()

    def _readable(self, kind: Kind) -> None:
        self._registry.check(kind)

    def _writable(self, kind: Kind) -> ResourceDefinition | None:
        definition = self._registry.check(kind)
        if definition is not None and not definition.writable:
            raise DeniedError(f"{kind.type} is written by cosid only")
        return definition

    def _admit(self, resource: Resource, field: str) -> None:
        """The configuration's rules for the spec (checked by its model already), as the
        typed service applies them: a spec the daemon would refuse to act on is not stored."""
        admission = self._admissions.get(resource.pointer.kind)
        if admission is None:
            return
        spec = from_spec(admission.spec_model, resource.spec)
        violations = admission.violations(spec, f"{field}.spec.yaml_spec")
        if violations:
            raise InvalidArgumentError(violations)

    def _pointer(self, namespace: str, type_: str, id_: str) -> Pointer:
        pointer = pointer_from_request(namespace, type_, id_, self._limits)
        bind_contextvars(resource=str(pointer))
        return pointer

    async def _target(self, request: TargetedRequest) -> tuple[Pointer, str]:
        """The resource a Destroy or Teardown acts on, and as which owner; checked writable.
        Its version now goes into the request's audit line (the store says if it is gone)."""
        pointer = self._pointer(request.namespace, request.type, request.id)
        owner = owner_from_request(request.options.owner, "options.owner", self._limits)
        self._writable(pointer.kind)
        with contextlib.suppress(NotFoundError):
            bind_contextvars(version=(await self._state.get(pointer)).version)
        return pointer, owner

    def _resource(self, message: Any, field: str) -> Resource:
        resource = resource_from_request(message, field, self._limits)
        bind_contextvars(resource=str(resource.pointer), version=resource.version)
        return resource

    @rpc.unary(mutates=False)
    async def Get(self, request: state_pb2.GetRequest, context: Context) -> state_pb2.GetResponse:
        pointer = self._pointer(request.namespace, request.type, request.id)
        self._readable(pointer.kind)
        resource = await self._state.get(pointer)
        return state_pb2.GetResponse(resource=resource_to_wire(resource))

    @rpc.stream
    async def List(
        self, request: state_pb2.ListRequest, context: Context
    ) -> AsyncIterator[state_pb2.ListResponse]:
        kind = kind_from_request(request.namespace, request.type, self._limits)
        self._readable(kind)
        options = request.options
        query = query_from_request(options.label_query, options.id_query, "options", self._limits)
        for resource in await self._state.list(kind, query):
            yield state_pb2.ListResponse(resource=resource_to_wire(resource))

    @rpc.unary(mutates=True)
    async def Create(
        self, request: state_pb2.CreateRequest, context: Context
    ) -> state_pb2.CreateResponse:
        resource = self._resource(request.resource, "resource")
        owner = owner_from_request(request.options.owner, "options.owner", self._limits)
        check_spec(self._writable(resource.pointer.kind), resource, "resource")
        self._admit(resource, "resource")
        self._quota.check_creations([resource.pointer.kind])
        stored = await self._state.create(resource, owner)
        bind_contextvars(new_version=stored.version)
        return state_pb2.CreateResponse(resource=resource_to_wire(stored))

    @rpc.unary(mutates=True)
    async def Update(
        self, request: state_pb2.UpdateRequest, context: Context
    ) -> state_pb2.UpdateResponse:
        resource = self._resource(request.new_resource, "new_resource")
        owner = owner_from_request(request.options.owner, "options.owner", self._limits)
        expected_phase = None
        if request.options.HasField("expected_phase"):
            expected_phase = phase_from_wire(
                request.options.expected_phase, "options.expected_phase"
            )
        check_spec(self._writable(resource.pointer.kind), resource, "new_resource")
        self._admit(resource, "new_resource")
        stored = await self._state.update(resource, owner, expected_phase)
        bind_contextvars(new_version=stored.version)
        return state_pb2.UpdateResponse(resource=resource_to_wire(stored))

    @rpc.unary(mutates=True)
    async def Destroy(
        self, request: state_pb2.DestroyRequest, context: Context
    ) -> state_pb2.DestroyResponse:
        await self._state.destroy(*await self._target(request))
        return state_pb2.DestroyResponse()

    @rpc.unary(mutates=True)
    async def Teardown(
        self, request: state_pb2.TeardownRequest, context: Context
    ) -> state_pb2.TeardownResponse:
        ready = await self._state.teardown(*await self._target(request))
        return state_pb2.TeardownResponse(destroy_ready=ready)

    @rpc.unary(mutates=True)
    async def TeardownAndDestroy(
        self, request: state_pb2.TeardownAndDestroyRequest, context: Context
    ) -> state_pb2.TeardownAndDestroyResponse:
        await self._state.teardown_and_destroy(*await self._target(request))
        return state_pb2.TeardownAndDestroyResponse()

    @rpc.watch
    async def Watch(
        self, request: state_pb2.WatchRequest, context: Context
    ) -> AsyncIterator[state_pb2.WatchResponse]:
        batches = await self._start_watch(request)
        yield state_pb2.WatchResponse()  # "ready": the client discards this first message
        hidden = LEGACY_HIDDEN_EVENTS if request.api_version < 1 else frozenset()
        aggregated = request.options.aggregated
        async for batch in batches:
            # converted as sent: a watcher far behind never holds its whole backlog twice
            events = (self._wire_events.to_wire(e) for e in batch if e.type not in hidden)
            if aggregated:
                for chunk in _within_message_size(events, self._limits.max_message_bytes):
                    yield state_pb2.WatchResponse(event=chunk)
            else:
                for event in events:
                    yield state_pb2.WatchResponse(event=[event])
            if batch[-1].type == EventType.ERRORED:
                raise WatcherOverrunError(batch[-1].error)

    async def _start_watch(self, request: state_pb2.WatchRequest) -> AsyncIterator[EventBatch]:
        options = request.options
        bookmark = options.start_from_bookmark if options.HasField("start_from_bookmark") else None
        if request.HasField("id"):
            pointer = self._pointer(request.namespace, request.type, request.id)
            check_single_watch_options(options)
            self._readable(pointer.kind)
            return await self._state.watch(pointer, WatchOptions(options.tail_events, bookmark))
        kind = kind_from_request(request.namespace, request.type, self._limits)
        bind_contextvars(resource=str(kind))
        self._readable(kind)
        query = query_from_request(options.label_query, options.id_query, "options", self._limits)
        return await self._state.watch_kind(
            kind,
            WatchKindOptions(
                bootstrap_contents=options.bootstrap_contents,
                bootstrap_bookmark=options.bootstrap_bookmark,
                tail_events=options.tail_events,
                start_from_bookmark=bookmark,
                query=query,
            ),
        )


_EVENT_FRAMING_BYTES = 6
"""A repeated message field's tag (1 byte) and length (at most 5) around each event."""


def _within_message_size(
    events: Iterable[state_pb2.Event], max_bytes: int
) -> Iterator[list[state_pb2.Event]]:
    """Split an aggregated batch so no WatchResponse exceeds the message size limit (which
    would end the stream on either side); an event too large on its own still goes alone."""
    chunk: list[state_pb2.Event] = []
    size = 0
    for event in events:
        event_size = event.ByteSize() + _EVENT_FRAMING_BYTES
        if chunk and size + event_size > max_bytes:
            yield chunk
            chunk, size = [], 0
        chunk.append(event)
        size += event_size
    if chunk:
        yield chunk
