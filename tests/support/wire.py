"""Talking COSI State to a real daemon in tests: messages, calls, and watch readers that time out.

Everything here speaks the generated messages over grpc.aio stubs, so a test reads like the
wire exchange it checks. Nothing can hang: every read has a timeout that fails the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cosid.api.cosi.resource import resource_pb2, state_pb2, state_pb2_grpc

if TYPE_CHECKING:
    from cosid.api.cosi.resource.state_pb2_grpc import StateAsyncStub

    WatchCall = grpc.aio.UnaryStreamCall[state_pb2.WatchRequest, state_pb2.WatchResponse]

NS = "default"
"""Open and durable in the test daemon."""
SCRATCH_NS = "scratch"
"""Open and in memory."""
CLOSED_NS = "closed"
"""Accepts only defined types (and defines none)."""
META_NS = "meta"
NAMESPACES_TYPE = "Namespaces.meta.cosi.dev"
RESOURCE_DEFINITIONS_TYPE = "ResourceDefinitions.meta.cosi.dev"

READ_TIMEOUT = 1.0
"""COSI clients give up on a watch after about a second: later is as good as lost."""
QUIET_PERIOD = 0.2
"""How long a watch must stay silent for "nothing more was sent"."""

CREATED = state_pb2.CREATED
UPDATED = state_pb2.UPDATED
DESTROYED = state_pb2.DESTROYED
BOOTSTRAPPED = state_pb2.BOOTSTRAPPED
ERRORED = state_pb2.ERRORED
NOOP = state_pb2.NOOP

Op = resource_pb2.LabelTerm.Operation
EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]  # the stubs predate it
"""What a stream's read() returns at its end."""


@asynccontextmanager
async def connect(endpoint: str) -> AsyncIterator[StateAsyncStub]:
    """A State stub on its own channel, closed when the block ends."""
    async with grpc.aio.insecure_channel(endpoint) as channel:
        yield state_pb2_grpc.StateStub(channel)


# --- Messages ------------------------------------------------------------------------------------


def make_resource(
    id: str,
    type: str,
    *,
    ns: str = NS,
    version: str = "undefined",
    owner: str = "",
    phase: str = "running",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    finalizers: Sequence[str] = (),
    proto_spec: bytes = b"",
    yaml_spec: str | None = None,
) -> resource_pb2.Resource:
    """A resource as a COSI client sends it to Create."""
    return resource_pb2.Resource(
        metadata=resource_pb2.Metadata(
            namespace=ns,
            type=type,
            id=id,
            version=version,
            owner=owner,
            phase=phase,
            labels=labels or {},
            annotations=annotations or {},
            finalizers=finalizers,
        ),
        spec=resource_pb2.Spec(
            proto_spec=proto_spec, yaml_spec=f"id: {id}\n" if yaml_spec is None else yaml_spec
        ),
    )


def changed(resource: resource_pb2.Resource, **metadata: Any) -> resource_pb2.Resource:
    """A copy with some metadata fields replaced (labels, annotations, finalizers included)."""
    copy = resource_pb2.Resource()
    copy.CopyFrom(resource)
    for name, value in metadata.items():
        if name in ("labels", "annotations"):
            field = getattr(copy.metadata, name)
            field.clear()
            field.update(value)
        elif name == "finalizers":
            del copy.metadata.finalizers[:]
            copy.metadata.finalizers.extend(value)
        else:
            setattr(copy.metadata, name, value)
    return copy


def term(
    key: str,
    op: resource_pb2.LabelTerm.Operation.ValueType = Op.EXISTS,
    *values: str,
    invert: bool = False,
) -> resource_pb2.LabelTerm:
    return resource_pb2.LabelTerm(key=key, op=op, value=values, invert=invert)


def label_query(*terms: resource_pb2.LabelTerm) -> resource_pb2.LabelQuery:
    return resource_pb2.LabelQuery(terms=terms)


def ids(resources: Iterable[resource_pb2.Resource]) -> list[str]:
    return [resource.metadata.id for resource in resources]


# --- Calls ---------------------------------------------------------------------------------------


async def create(
    stub: StateAsyncStub, resource: resource_pb2.Resource, owner: str = ""
) -> resource_pb2.Resource:
    request = state_pb2.CreateRequest(
        resource=resource, options=state_pb2.CreateOptions(owner=owner)
    )
    return (await stub.Create(request, timeout=READ_TIMEOUT * 5)).resource


async def update(
    stub: StateAsyncStub,
    resource: resource_pb2.Resource,
    owner: str = "",
    expected_phase: str | None = None,
) -> resource_pb2.Resource:
    options = state_pb2.UpdateOptions(owner=owner)
    if expected_phase is not None:
        options.expected_phase = expected_phase
    request = state_pb2.UpdateRequest(new_resource=resource, options=options)
    return (await stub.Update(request, timeout=READ_TIMEOUT * 5)).resource


async def get(stub: StateAsyncStub, type: str, id: str, *, ns: str = NS) -> resource_pb2.Resource:
    request = state_pb2.GetRequest(namespace=ns, type=type, id=id)
    return (await stub.Get(request, timeout=READ_TIMEOUT * 5)).resource


async def destroy(
    stub: StateAsyncStub, type: str, id: str, *, ns: str = NS, owner: str = ""
) -> None:
    request = state_pb2.DestroyRequest(
        namespace=ns, type=type, id=id, options=state_pb2.DestroyOptions(owner=owner)
    )
    await stub.Destroy(request, timeout=READ_TIMEOUT * 5)


async def teardown(
    stub: StateAsyncStub, type: str, id: str, *, ns: str = NS, owner: str = ""
) -> bool:
    request = state_pb2.TeardownRequest(
        namespace=ns, type=type, id=id, options=state_pb2.TeardownOptions(owner=owner)
    )
    return (await stub.Teardown(request, timeout=READ_TIMEOUT * 5)).destroy_ready


async def list_resources(
    stub: StateAsyncStub,
    type: str,
    *,
    ns: str = NS,
    label_queries: Sequence[resource_pb2.LabelQuery] = (),
    id_regexp: str = "",
) -> list[resource_pb2.Resource]:
    options = state_pb2.ListOptions(
        label_query=label_queries, id_query=resource_pb2.IDQuery(regexp=id_regexp)
    )
    request = state_pb2.ListRequest(namespace=ns, type=type, options=options)
    return [reply.resource async for reply in stub.List(request, timeout=READ_TIMEOUT * 5)]


async def rpc_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error a call fails with (the test fails if it succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def status_code(call: Awaitable[object]) -> grpc.StatusCode:
    return (await rpc_error(call)).code()


Request = (
    state_pb2.GetRequest
    | state_pb2.ListRequest
    | state_pb2.CreateRequest
    | state_pb2.UpdateRequest
    | state_pb2.DestroyRequest
    | state_pb2.TeardownRequest
    | state_pb2.TeardownAndDestroyRequest
    | state_pb2.WatchRequest
)


async def send(stub: StateAsyncStub, request: Request) -> object:
    """Any State request through its RPC: the reply, every List reply, or a Watch's first one."""
    timeout = READ_TIMEOUT * 5
    match request:
        case state_pb2.GetRequest():
            return await stub.Get(request, timeout=timeout)
        case state_pb2.ListRequest():
            return [reply async for reply in stub.List(request, timeout=timeout)]
        case state_pb2.CreateRequest():
            return await stub.Create(request, timeout=timeout)
        case state_pb2.UpdateRequest():
            return await stub.Update(request, timeout=timeout)
        case state_pb2.DestroyRequest():
            return await stub.Destroy(request, timeout=timeout)
        case state_pb2.TeardownRequest():
            return await stub.Teardown(request, timeout=timeout)
        case state_pb2.TeardownAndDestroyRequest():
            return await stub.TeardownAndDestroy(request, timeout=timeout)
        case state_pb2.WatchRequest():
            call = stub.Watch(request, timeout=timeout)
            try:
                return await call.read()
            finally:
                call.cancel()


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The google.rpc.BadRequest field violations of an INVALID_ARGUMENT: field -> description."""
    status = rpc_status.from_call(cast(grpc.Call, error))
    assert status is not None, f"no grpc-status-details-bin in {error.code()}: {error.details()}"
    violations: dict[str, str] = {}
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            violations.update({v.field: v.description for v in bad_request.field_violations})
    return violations


# --- Watches -------------------------------------------------------------------------------------


def summary(events: Iterable[state_pb2.Event]) -> list[tuple[str, str, str]]:
    """(event type, id, version) per event: what most watch assertions compare."""
    return [
        (
            state_pb2.EventType.Name(event.event_type),
            event.resource.metadata.id,
            event.resource.metadata.version,
        )
        for event in events
    ]


class WatchStream:
    """A Watch call read with timeouts: responses, events across responses, the stream's end.

    A timed-out read is not cancelled (that would cancel the whole call): it stays pending and
    the next read picks it up.
    """

    def __init__(self, call: WatchCall) -> None:
        self.call = call
        self._reading: asyncio.Future[object] | None = None

    async def _read(self, within: float) -> object:
        """The next message or EOF; TimeoutError if nothing came in time."""
        if self._reading is None:
            self._reading = asyncio.ensure_future(self.call.read())
        done, _ = await asyncio.wait({self._reading}, timeout=within)
        if not done:
            raise TimeoutError
        reading, self._reading = self._reading, None
        return reading.result()

    async def response(self, within: float = READ_TIMEOUT) -> state_pb2.WatchResponse:
        """The next message; fails if none comes in time or the stream ended."""
        try:
            reply = await self._read(within)
        except TimeoutError:
            pytest.fail(f"no watch response within {within}s")
        assert reply is not EOF, "the watch stream ended"
        return cast(state_pb2.WatchResponse, reply)

    async def ready(self) -> None:
        """The first message: empty, meaning the watch is set up."""
        first = await self.response()
        assert list(first.event) == [], f"the first response was not empty: {first}"

    async def events(self, n: int, within: float = READ_TIMEOUT) -> list[state_pb2.Event]:
        """Exactly the next `n` events, however they are batched (more in one message fails)."""
        events: list[state_pb2.Event] = []
        while len(events) < n:
            events.extend((await self.response(within)).event)
        assert len(events) == n, f"expected {n} events, got {summary(events)}"
        return events

    async def event(self, within: float = READ_TIMEOUT) -> state_pb2.Event:
        return (await self.events(1, within))[0]

    async def quiet(self, period: float = QUIET_PERIOD) -> None:
        """Nothing arrives for `period` seconds."""
        try:
            reply = await self._read(period)
        except TimeoutError:
            return
        pytest.fail(f"expected no more watch messages, got {reply}")

    async def ended(
        self, within: float = READ_TIMEOUT
    ) -> tuple[list[state_pb2.Event], grpc.StatusCode]:
        """Read to the end: the events still sent, and the stream's status code."""
        events: list[state_pb2.Event] = []
        deadline = asyncio.get_running_loop().time() + within
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                reply = await self._read(max(remaining, 0))
                if reply is EOF:
                    return events, await self.call.code()
                events.extend(cast(state_pb2.WatchResponse, reply).event)
        except TimeoutError:
            pytest.fail(f"the watch stream did not end within {within}s")
        except grpc.aio.AioRpcError as error:
            return events, error.code()

    def close(self) -> None:
        self.call.cancel()
        if self._reading is not None:
            self._reading.cancel()


@asynccontextmanager
async def watching(
    stub: StateAsyncStub, request: state_pb2.WatchRequest, *, ready: bool = True
) -> AsyncIterator[WatchStream]:
    """An open watch (past its "ready" message unless `ready=False`), cancelled on exit."""
    stream = WatchStream(stub.Watch(request))
    try:
        if ready:
            await stream.ready()
        yield stream
    finally:
        stream.close()


async def watch_events(
    stub: StateAsyncStub, request: state_pb2.WatchRequest, n: int, within: float = READ_TIMEOUT
) -> list[state_pb2.Event]:
    """Open a watch, read exactly its first `n` events, check nothing else comes, close it."""
    async with watching(stub, request) as stream:
        events = await stream.events(n, within)
        await stream.quiet()
    return events


async def watch_setup_error(
    stub: StateAsyncStub, request: state_pb2.WatchRequest
) -> grpc.aio.AioRpcError:
    """The status a watch fails with at set-up, before any message (the "ready" one included)."""
    call = stub.Watch(request)
    try:
        return await rpc_error(asyncio.wait_for(call.read(), READ_TIMEOUT))
    finally:
        call.cancel()


def kind_watch(
    type: str,
    *,
    ns: str = NS,
    api_version: int = 1,
    **options: Any,
) -> state_pb2.WatchRequest:
    return state_pb2.WatchRequest(
        namespace=ns, type=type, options=state_pb2.WatchOptions(**options), api_version=api_version
    )


def single_watch(
    type: str, id: str, *, ns: str = NS, api_version: int = 1, **options: Any
) -> state_pb2.WatchRequest:
    return state_pb2.WatchRequest(
        namespace=ns,
        type=type,
        id=id,
        options=state_pb2.WatchOptions(**options),
        api_version=api_version,
    )
