"""A typed Watch: one stream of views, fed by three store watches (specs, statuses, conditions).

A spec event says what happened (created, updated, destroyed); a status or condition event is
an update of the view with that id, sent only once the view's creation was (so no client sees
an update before the create). Each event carries the view as stored when it is sent.

The three store watches are read one batch at a time into a queue of one: a client that
does not read holds them back, so the store's bounded history (not this process's memory)
decides when it has fallen too far behind, and the stream ends RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from enum import Enum

from google.protobuf.message import Message

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.runtime.conditions import CONDITIONS
from cosid.server.errors import WatcherOverrunError
from cosid.server.typed.views import Views
from cosid.state.events import Event, EventType
from cosid.state.query import MATCH_ALL, ResourceQuery
from cosid.state.state import EventBatch, State, WatchKindOptions

IdFilter = Callable[[str], bool]


class Source(Enum):
    SPECS = "specs"
    STATUSES = "statuses"
    CONDITIONS = "conditions"


_EVENT_TYPES = {
    EventType.CREATED: common_pb2.EVENT_TYPE_CREATED,
    EventType.UPDATED: common_pb2.EVENT_TYPE_UPDATED,
    EventType.DESTROYED: common_pb2.EVENT_TYPE_DESTROYED,
}


async def watch_views(
    state: State,
    views: Views,
    wanted: IdFilter,
    bootstrap: bool,
    query: ResourceQuery = MATCH_ALL,
) -> AsyncIterator[Message]:
    """Set up the watches (errors raised here), then the domain's Event messages."""
    api = views.api
    sources = {
        Source.SPECS: await state.watch_kind(
            api.specs, WatchKindOptions(bootstrap_contents=bootstrap, query=query)
        ),
        Source.STATUSES: await state.watch_kind(api.statuses),
        Source.CONDITIONS: await state.watch_kind(CONDITIONS),
    }
    return _merged(views, sources, wanted)


async def _merged(
    views: Views, sources: dict[Source, AsyncIterator[EventBatch]], wanted: IdFilter
) -> AsyncIterator[Message]:
    queue: asyncio.Queue[tuple[Source, EventBatch]] = asyncio.Queue(maxsize=1)
    pumps = [asyncio.create_task(_pump(source, it, queue)) for source, it in sources.items()]
    announced: set[str] = set()
    try:
        while (next_batch := await _next(queue, pumps)) is not None:
            source, batch = next_batch
            for event in batch:
                if event.type == EventType.ERRORED:
                    raise WatcherOverrunError(event.error)
                message = await _view_event(views, source, event, announced)
                if message is not None and _is_wanted(message, wanted):
                    yield message
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        for it in sources.values():
            with contextlib.suppress(Exception):
                await it.aclose()  # type: ignore[attr-defined]


async def _pump(
    source: Source, it: AsyncIterator[EventBatch], queue: asyncio.Queue[tuple[Source, EventBatch]]
) -> None:
    async for batch in it:
        await queue.put((source, batch))


async def _next(
    queue: asyncio.Queue[tuple[Source, EventBatch]], pumps: list[asyncio.Task[None]]
) -> tuple[Source, EventBatch] | None:
    """The next batch; None when a store watch ended, which raises its error if it had one
    (StoreClosedError when the daemon is shutting down)."""
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait([getter, *pumps], return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    ended = next(pump for pump in pumps if pump.done())
    ended.result()
    return None


async def _view_event(
    views: Views, source: Source, event: Event, announced: set[str]
) -> Message | None:
    resource = event.resource
    api = views.api
    if event.type == EventType.BOOTSTRAPPED:
        return api.event_message(type=common_pb2.EVENT_TYPE_BOOTSTRAPPED)
    if resource is None or event.type not in _EVENT_TYPES:
        return None
    if source == Source.SPECS:
        spec_id = resource.metadata.id
        if event.type == EventType.DESTROYED:
            announced.discard(spec_id)
            event_type = common_pb2.EVENT_TYPE_DESTROYED
        else:
            event_type = (
                common_pb2.EVENT_TYPE_UPDATED
                if spec_id in announced
                else _created(spec_id, announced)
            )
        return api.event_message(type=event_type, resource=await views.of(resource))
    id = (
        views.item_of_condition(resource.metadata.id)
        if source == Source.CONDITIONS
        else resource.metadata.id
    )
    if id is None or id not in announced:
        return None
    view = await views.current(id)
    if view is None:
        return None
    return api.event_message(type=common_pb2.EVENT_TYPE_UPDATED, resource=view)


def _created(id: str, announced: set[str]) -> common_pb2.EventType.ValueType:
    announced.add(id)
    return common_pb2.EVENT_TYPE_CREATED


def _is_wanted(message: Message, wanted: IdFilter) -> bool:
    if not message.HasField("resource"):
        return True  # BOOTSTRAPPED
    return wanted(message.resource.metadata.id)  # type: ignore[attr-defined]
