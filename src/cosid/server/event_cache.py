"""Wire forms of recent events, so an event is converted once however many watchers send it.

Every watcher of a kind sends the same Event objects from the kind's history; converting each
for every watcher was a third of the daemon's time with a hundred watchers.
"""

from __future__ import annotations

from collections import OrderedDict

from cosid.api.cosi.resource import state_pb2
from cosid.state.codec import event_to_wire
from cosid.state.events import Event

DEFAULT_CAPACITY = 4096


class WireEventCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[int, tuple[Event, state_pb2.Event]] = OrderedDict()
        """Keyed by identity; holding the event keeps its id from being reused while cached."""

    def to_wire(self, event: Event) -> state_pb2.Event:
        entry = self._entries.get(id(event))
        if entry is not None and entry[0] is event:
            return entry[1]
        wire = event_to_wire(event)
        self._entries[id(event)] = (event, wire)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return wire
