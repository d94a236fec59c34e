"""A synchronous client of the typed domain services (cosi.<domain>.v1alpha1), for any domain.

Every domain's service has the same RPCs over its own messages, so one client serves them all:
it is handed the domain's `TypedApi` and calls the service by its full name with the messages
the service descriptor names. Like `Client`, a failed call raises its `grpc.RpcError`
unchanged: the field violations of INVALID_ARGUMENT and the ApplyResponse that a failed wait
carries travel in its status details (`grpc_status.rpc_status.from_call`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.client.client import DEFAULT_TIMEOUT
from cosid.resources.typed import TypedApi

Response = TypeVar("Response", bound=Message)

DAEMON_WAIT_SHARE = 0.9
"""The daemon waits at most this share of a call's remaining time, so that its answer (saying
what is not done) reaches the client before the deadline. A waiting call's deadline is set so
that the whole wait fits in that share."""


class TypedClient:
    """Apply, Get and Delete of the typed services over a channel the caller owns (and
    closes): the same channel can serve a `Client` too."""

    def __init__(self, channel: grpc.Channel, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self._channel = channel
        self._timeout = timeout

    def apply(
        self,
        api: TypedApi,
        items: Sequence[Message],
        *,
        dry_run: bool = False,
        wait: float | None = None,
    ) -> Message:
        """Store `items` (the domain's resource messages) all or none; the ApplyResponse.

        `dry_run`: only validate and return the changes. `wait`: seconds to wait until every
        item converged (else FAILED_PRECONDITION or DEADLINE_EXCEEDED); the call's deadline
        is stretched to fit the wait.
        """
        options = common_pb2.ApplyOptions(dry_run=dry_run)
        deadline = self._timeout
        if wait is not None:
            options.wait = True
            options.wait_timeout.CopyFrom(_duration(wait))
            deadline = wait / DAEMON_WAIT_SHARE + (self._timeout or 0.0)
        request = api.request_message("Apply")(items=items, options=options)
        return self._call(api, "Apply", request, api.apply_response_message, deadline)

    def get(self, api: TypedApi, id: str) -> Message:
        """The domain's resource message: spec, status and condition (NOT_FOUND if no spec)."""
        request = common_pb2.GetRequest(id=id)
        return self._call(api, "Get", request, api.resource_message, self._timeout)

    def delete(self, api: TypedApi, id: str, timeout: float | None = None) -> None:
        """Return once the spec's controller undid it and the spec is gone.

        No deadline by default: how long an undo takes is up to the controller (the daemon
        still gives up after a few minutes, with DEADLINE_EXCEEDED saying why).
        """
        request = common_pb2.DeleteRequest(id=id)
        self._call(api, "Delete", request, common_pb2.DeleteResponse, timeout)

    def _call(
        self,
        api: TypedApi,
        method: str,
        request: Message,
        response_type: type[Response],
        timeout: float | None,
    ) -> Response:
        call = self._channel.unary_unary(
            f"/{api.service.full_name}/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString,
        )
        response: Response = call(request, timeout=timeout)
        return response


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration
