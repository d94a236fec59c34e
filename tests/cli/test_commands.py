"""Which watch events `cosictl watch` prints: the changes of real resources, nothing else."""

from __future__ import annotations

import pytest

from cosid.cli.commands import shown_events
from cosid.state.events import Event, EventType
from cosid.state.resource import Kind, Metadata, Pointer, Resource, kind_tombstone, tombstone

POINTER = Pointer("default", "Greetings.example.org", "hello")
V1 = Resource(Metadata(POINTER.namespace, POINTER.type, POINTER.id, version=1))
V2 = V1.with_metadata(version=2)


def shown(events: list[Event], *, skip_first: bool = False) -> list[tuple[str, int]]:
    return [(t.name, r.version) for t, r in shown_events(events, skip_first=skip_first)]


def test_changes_are_shown_and_markers_are_not() -> None:
    events = [
        Event(EventType.CREATED, V1),
        Event(EventType.BOOTSTRAPPED, kind_tombstone(Kind(POINTER.namespace, POINTER.type))),
        Event(EventType.NOOP, None, bookmark=b"x"),
        Event(EventType.UPDATED, V2, V1),
        Event(EventType.DESTROYED, V2),
        Event(EventType.ERRORED, None, error="too slow"),
    ]
    assert shown(events) == [("CREATED", 1), ("UPDATED", 2), ("DESTROYED", 2)]


def test_the_tombstone_of_a_missing_resource_is_not_shown() -> None:
    events = [Event(EventType.DESTROYED, tombstone(POINTER)), Event(EventType.CREATED, V1)]
    assert shown(events) == [("CREATED", 1)]


@pytest.mark.parametrize("skip_first", [True, False])
def test_without_bootstrap_the_current_state_is_skipped(skip_first: bool) -> None:
    events = [Event(EventType.CREATED, V1), Event(EventType.UPDATED, V2, V1)]
    expected = [("UPDATED", 2)] if skip_first else [("CREATED", 1), ("UPDATED", 2)]
    assert shown(events, skip_first=skip_first) == expected
