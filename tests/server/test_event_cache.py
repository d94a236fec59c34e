"""The wire event cache converts each event once and never serves one event for another."""

from __future__ import annotations

from cosid.server.event_cache import WireEventCache
from cosid.state.codec import event_to_wire
from cosid.state.events import Event, EventType
from cosid.state.resource import Metadata, Resource


def _event(resource_id: str) -> Event:
    return Event(EventType.CREATED, Resource(Metadata("ns", "Things.test.dev", resource_id, 1)))


def test_an_event_is_converted_once_for_every_watcher() -> None:
    cache = WireEventCache()
    event = _event("a")

    first = cache.to_wire(event)

    assert cache.to_wire(event) is first
    assert first == event_to_wire(event)


def test_equal_but_distinct_events_and_evicted_ones_are_converted_anew() -> None:
    cache = WireEventCache(capacity=2)
    a, b, c = _event("a"), _event("b"), _event("c")
    wire_a = cache.to_wire(a)
    cache.to_wire(b)
    cache.to_wire(c)  # evicts a

    assert cache.to_wire(a) is not wire_a
    assert cache.to_wire(a) == wire_a
    assert cache.to_wire(_event("c")).resource.metadata.id == "c"
