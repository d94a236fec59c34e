"""An open Watch call read as model events."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import Protocol

import grpc

from cosid.api.cosi.resource import state_pb2
from cosid.state.codec import event_from_wire
from cosid.state.events import Event


class WatchCall(Protocol):
    """What a stream needs of the call (grpc-stubs leaves `Call.cancel` untyped)."""

    def __iter__(self) -> Iterator[state_pb2.WatchResponse]: ...

    def cancel(self) -> object: ...


class EventStream:
    """Events of one watch, in order, however the daemon batched them; close to cancel.

    Opening reads the daemon's first, empty "ready" message, so set-up errors (an invalid
    bookmark, an unknown namespace) raise here, and any change made after the stream exists is
    guaranteed to be seen: a caller never races the watch's set-up.
    """

    def __init__(self, call: WatchCall) -> None:
        self._call = call
        self._responses = iter(call)
        self._closed = False
        try:
            ready = next(self._responses, None)
        except BaseException:
            call.cancel()
            raise
        self._pending: deque[state_pb2.Event] = deque(() if ready is None else ready.event)

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> Event:
        """The next event; StopIteration when the daemon ends the stream or it was closed."""
        while not self._pending:
            try:
                response = next(self._responses)
            except grpc.RpcError as error:
                if self._closed and error.code() == grpc.StatusCode.CANCELLED:
                    raise StopIteration from None
                raise
            self._pending.extend(response.event)
        return event_from_wire(self._pending.popleft())

    def close(self) -> None:
        """Cancel the watch (also from another thread: the reader then stops iterating)."""
        self._closed = True
        self._call.cancel()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
