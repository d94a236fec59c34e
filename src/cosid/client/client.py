"""A synchronous client of `cosi.resource.State` that speaks the store's model types.

Synchronous on purpose: its users are `cosictl` and scripts, and grpcio-testing's fake channel
(which has no grpc.aio support) can then check exactly what it sends. A failed call raises the
`grpc.RpcError` it failed with, unchanged: its code() and details() are what the daemon said,
and mapping them onto the store's exceptions would lose the codes the store never raises
(UNAVAILABLE, DEADLINE_EXCEEDED, INVALID_ARGUMENT's field violations).
"""

from __future__ import annotations

from types import TracebackType

import grpc

from cosid.api.cosi.resource import state_pb2, state_pb2_grpc
from cosid.client.definitions import TypeDefinition, definition_from_resource, resolve
from cosid.client.endpoint import dial, resolve_endpoint
from cosid.client.tls import ClientTls, resolve_tls
from cosid.client.watch import EventStream
from cosid.state.codec import label_query_to_wire, resource_from_wire, resource_to_wire
from cosid.state.query import MATCH_ALL, ResourceQuery
from cosid.state.registry import META_NAMESPACE, RESOURCE_DEFINITIONS_TYPE
from cosid.state.resource import Kind, Phase, Pointer, Resource
from cosid.state.state import ResourceList, WatchKindOptions, WatchOptions

DEFAULT_TIMEOUT = 10.0
"""Seconds a unary call or a List may take, so a wedged daemon fails a script, not hangs it."""

WATCH_API_VERSION = 1
"""Declares that this client understands BOOTSTRAPPED and ERRORED events."""

DEFINITIONS_KIND = Kind(META_NAMESPACE, RESOURCE_DEFINITIONS_TYPE)


class Client:
    """The State API over one channel, with the same verbs as `cosid.state.state.State`.

    The client owns the channel: closing the client (or leaving its `with` block) closes it.
    """

    def __init__(self, channel: grpc.Channel, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self._channel = channel
        self._stub = state_pb2_grpc.StateStub(channel)
        self._timeout = timeout

    @classmethod
    def connect(cls, endpoint: str | None = None, tls: ClientTls | None = None) -> Client:
        """A client of the daemon at `endpoint`, $COSID_ENDPOINT, or the system socket; over TCP
        with `tls`, else the files $COSID_CERT, $COSID_KEY and $COSID_CA name.

        Connecting is lazy: an unreachable daemon shows as UNAVAILABLE on the first call.
        """
        return cls(dial(resolve_endpoint(endpoint), tls or resolve_tls()))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def get(self, pointer: Pointer) -> Resource:
        request = state_pb2.GetRequest(
            namespace=pointer.namespace, type=pointer.type, id=pointer.id
        )
        return resource_from_wire(self._stub.Get(request, timeout=self._timeout).resource)

    def list(self, kind: Kind, query: ResourceQuery = MATCH_ALL) -> ResourceList:
        """The matching resources of a kind, sorted by id."""
        options = state_pb2.ListOptions()
        _set_query(options, query)
        request = state_pb2.ListRequest(namespace=kind.namespace, type=kind.type, options=options)
        replies = self._stub.List(request, timeout=self._timeout)
        return [resource_from_wire(reply.resource) for reply in replies]

    def create(self, resource: Resource, owner: str = "") -> Resource:
        """Store a new resource; the daemon stores version 1 whatever `resource` carries."""
        request = state_pb2.CreateRequest(
            resource=resource_to_wire(resource), options=state_pb2.CreateOptions(owner=owner)
        )
        return resource_from_wire(self._stub.Create(request, timeout=self._timeout).resource)

    def update(
        self, resource: Resource, owner: str = "", expected_phase: Phase | None = None
    ) -> Resource:
        """Compare-and-swap: `resource` carries the version it was read at; returns the new one."""
        options = state_pb2.UpdateOptions(owner=owner)
        if expected_phase is not None:
            options.expected_phase = expected_phase.value
        request = state_pb2.UpdateRequest(new_resource=resource_to_wire(resource), options=options)
        return resource_from_wire(self._stub.Update(request, timeout=self._timeout).resource)

    def destroy(self, pointer: Pointer, owner: str = "") -> None:
        request = state_pb2.DestroyRequest(
            namespace=pointer.namespace,
            type=pointer.type,
            id=pointer.id,
            options=state_pb2.DestroyOptions(owner=owner),
        )
        self._stub.Destroy(request, timeout=self._timeout)

    def teardown(self, pointer: Pointer, owner: str = "") -> bool:
        """Move to phase tearingDown; True when no finalizers are left (destroy may follow)."""
        request = state_pb2.TeardownRequest(
            namespace=pointer.namespace,
            type=pointer.type,
            id=pointer.id,
            options=state_pb2.TeardownOptions(owner=owner),
        )
        return self._stub.Teardown(request, timeout=self._timeout).destroy_ready

    def teardown_and_destroy(
        self, pointer: Pointer, owner: str = "", timeout: float | None = None
    ) -> None:
        """Tear down, wait until other clients removed every finalizer, then destroy.

        No deadline by default: how long finalizers take is up to their controllers.
        """
        request = state_pb2.TeardownAndDestroyRequest(
            namespace=pointer.namespace,
            type=pointer.type,
            id=pointer.id,
            options=state_pb2.TeardownAndDestroyOptions(owner=owner),
        )
        self._stub.TeardownAndDestroy(request, timeout=timeout)

    def watch(self, pointer: Pointer, options: WatchOptions = WatchOptions()) -> EventStream:
        """Watch one resource: its current state first (CREATED, or a DESTROYED tombstone)."""
        request = _watch_request(pointer.kind, options.tail_events, options.start_from_bookmark)
        request.id = pointer.id
        return EventStream(self._stub.Watch(request))

    def watch_kind(self, kind: Kind, options: WatchKindOptions = WatchKindOptions()) -> EventStream:
        """Watch every matching resource of a kind (with the current ones first on bootstrap)."""
        request = _watch_request(kind, options.tail_events, options.start_from_bookmark)
        request.options.bootstrap_contents = options.bootstrap_contents
        request.options.bootstrap_bookmark = options.bootstrap_bookmark
        _set_query(request.options, options.query)
        return EventStream(self._stub.Watch(request))

    def definitions(self) -> tuple[TypeDefinition, ...]:
        """The types the daemon defines, from its ResourceDefinitions in namespace meta."""
        found = (definition_from_resource(r) for r in self.list(DEFINITIONS_KIND))
        return tuple(definition for definition in found if definition is not None)

    def resolve_definition(self, name: str) -> TypeDefinition:
        """The definition a type, short name or alias names (any case); else `name` literally."""
        return resolve(self.definitions(), name)

    def resolve_type(self, name: str) -> tuple[str, str]:
        """(type, default namespace) for a type, short name or alias, e.g. "ns" or "rd"."""
        definition = self.resolve_definition(name)
        return definition.type, definition.default_namespace


def _watch_request(kind: Kind, tail_events: int, bookmark: bytes | None) -> state_pb2.WatchRequest:
    request = state_pb2.WatchRequest(
        namespace=kind.namespace,
        type=kind.type,
        api_version=WATCH_API_VERSION,
        options=state_pb2.WatchOptions(tail_events=tail_events),
    )
    if bookmark is not None:
        request.options.start_from_bookmark = bookmark
    return request


def _set_query(
    options: state_pb2.ListOptions | state_pb2.WatchOptions, query: ResourceQuery
) -> None:
    options.label_query.extend(label_query_to_wire(q) for q in query.label_queries)
    if query.id_query is not None:
        options.id_query.regexp = query.id_query.pattern
