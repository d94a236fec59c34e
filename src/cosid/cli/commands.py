"""The verbs: each resolves the type the user named, asks the daemon, and prints."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TextIO

from cosid.cli.output import open_output
from cosid.client import Client, EventStream, TypeDefinition
from cosid.state.events import Event, EventType
from cosid.state.query import MATCH_ALL, ResourceQuery
from cosid.state.resource import UNDEFINED_VERSION, Kind, Pointer, Resource
from cosid.state.state import WatchKindOptions

SHOWN_EVENTS = frozenset({EventType.CREATED, EventType.UPDATED, EventType.DESTROYED})
"""Changes of a resource; BOOTSTRAPPED, NOOP and ERRORED are markers with nothing to print
(an ERRORED stream then ends with a status saying why, which is reported as an error)."""


class WatchEndedError(Exception):
    """The daemon ended a watch, which it does only when it shuts down: worth telling the user,
    who expects a watch to run until Ctrl-C."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What the user asked for: a type (or short name), maybe one id, a namespace, a format."""

    type_name: str
    id: str | None
    namespace: str | None
    output: str
    query: ResourceQuery = MATCH_ALL
    """Which resources (`-l`): labels to match."""


def get(client: Client, selection: Selection, stdout: TextIO) -> None:
    definition, kind = _resolve(client, selection)
    output = open_output(selection.output, definition, stdout)
    if selection.id is None:
        output.resources(client.list(kind, selection.query))
    else:
        output.resources([client.get(Pointer(kind.namespace, kind.type, selection.id))])


def watch(client: Client, selection: Selection, bootstrap: bool, stdout: TextIO) -> None:
    """Print changes until interrupted; with `bootstrap`, what exists now comes first.

    Raises WatchEndedError when the daemon ends the stream.
    """
    definition, kind = _resolve(client, selection)
    output = open_output(selection.output, definition, stdout)
    skip_current = selection.id is not None and not bootstrap
    with _open_stream(client, kind, selection, bootstrap) as stream:
        for event_type, resource in shown_events(stream, skip_first=skip_current):
            output.event(event_type, resource)
    raise WatchEndedError("the daemon ended the watch (is it shutting down?)")


def delete(client: Client, selection: Selection, timeout: float | None, stdout: TextIO) -> None:
    """Tear down and destroy one resource: returns once its controllers have undone it."""
    assert selection.id is not None
    _, kind = _resolve(client, selection)
    pointer = Pointer(kind.namespace, kind.type, selection.id)
    client.teardown_and_destroy(pointer, timeout=timeout)
    print(f"deleted {pointer}", file=stdout)


def _resolve(client: Client, selection: Selection) -> tuple[TypeDefinition, Kind]:
    definition = client.resolve_definition(selection.type_name)
    namespace = selection.namespace or definition.default_namespace
    return definition, Kind(namespace, definition.type)


def _open_stream(client: Client, kind: Kind, selection: Selection, bootstrap: bool) -> EventStream:
    if selection.id is None:
        options = WatchKindOptions(bootstrap_contents=bootstrap, query=selection.query)
        return client.watch_kind(kind, options)
    return client.watch(Pointer(kind.namespace, kind.type, selection.id))


def shown_events(
    events: Iterable[Event], *, skip_first: bool
) -> Iterator[tuple[EventType, Resource]]:
    """The events worth a line, as (type, resource).

    A single-resource watch always starts with the current state: `skip_first` drops it when
    the user asked for no bootstrap. A tombstone (undefined version: the watched resource does
    not exist yet, or a BOOTSTRAPPED marker) has nothing to show.
    """
    for event in islice(events, 1 if skip_first else 0, None):
        resource = event.resource
        if resource is None or resource.version == UNDEFINED_VERSION:
            continue
        if event.type in SHOWN_EVENTS:
            yield event.type, resource
