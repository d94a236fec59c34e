"""Sending fuzzed requests to a real daemon and judging its answers.

Hypothesis drives plain functions, so the calls run on an event loop of their own: `Caller`
keeps one loop and one grpc.aio channel for a whole fuzz session and sends each request as raw
bytes through a pass-through serializer (a generated message and undecodable garbage travel
the same way).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Final

import grpc
from grpc_health.v1 import health_pb2

from tests.fuzz.rpcs import Rpc
from tests.support.wire import EOF, field_violations

CALL_DEADLINE: Final = 5.0
"""Every call must be answered within this; for all but the waiting RPCs, running out is a hang."""
GRACE: Final = 2.0
"""How much longer than the deadline the client waits before calling it a hang of the daemon."""
WATCH_OPEN: Final = 0.1
"""A watch still open this long was accepted: refusals are immediate (a late one is missed,
never mistaken for a failure)."""
CHANNEL_OPTIONS: Final = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
]
"""Let oversized requests reach the daemon, whose own limit must refuse them."""


@dataclass(frozen=True)
class Answer:
    """How the daemon answered one request: its status and, when it failed, the error."""

    code: grpc.StatusCode
    error: grpc.aio.AioRpcError | None = None

    def describe(self) -> str:
        return self.code.name if self.error is None else f"{self.code.name}: {self.error.details()}"


class Caller:
    """One event loop and one channel to the daemon, for synchronous hypothesis tests."""

    def __init__(self, endpoint: str) -> None:
        self.loop = asyncio.new_event_loop()
        # grpc.aio looks the loop up when a stub or multicallable is made, outside any
        # coroutine; after async tests have run, the main thread has no current loop.
        asyncio.set_event_loop(self.loop)
        self.channel = self.loop.run_until_complete(self._open(endpoint))

    @staticmethod
    async def _open(endpoint: str) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(endpoint, options=CHANNEL_OPTIONS)

    def close(self) -> None:
        self.loop.run_until_complete(self.channel.close(None))
        asyncio.set_event_loop(None)
        self.loop.close()

    def send(self, rpc: Rpc, payload: bytes, watch_open: float = WATCH_OPEN) -> Answer:
        """Send `payload` as the request; a hang fails the test here. A watch still open after
        `watch_open` seconds counts as accepted."""
        try:
            return self.loop.run_until_complete(
                asyncio.wait_for(self._answer(rpc, payload, watch_open), CALL_DEADLINE + GRACE)
            )
        except TimeoutError:
            raise AssertionError(f"{rpc.name}: no answer within {CALL_DEADLINE + GRACE}s") from None

    async def _answer(self, rpc: Rpc, payload: bytes, watch_open: float) -> Answer:
        try:
            if rpc.streams:
                await self._stream(rpc, payload, watch_open)
            else:
                await self.channel.unary_unary(rpc.path, None, None)(payload, timeout=CALL_DEADLINE)
        except grpc.aio.AioRpcError as error:
            return Answer(error.code(), error)
        return Answer(grpc.StatusCode.OK)

    async def _stream(self, rpc: Rpc, payload: bytes, watch_open: float) -> None:
        """A List is read to its end; a Watch until its first message, or until it has stayed
        open for `watch_open` (a typed watch without bootstrap sends nothing until a change)."""
        call = self.channel.unary_stream(rpc.path, None, None)(payload, timeout=CALL_DEADLINE)
        try:
            if rpc.method.name == "Watch":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.read(), watch_open)
                return
            while await call.read() is not EOF:
                pass
        finally:
            call.cancel()

    def serving(self) -> bool:
        """The daemon's health service says SERVING."""
        check = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        reply = self.loop.run_until_complete(
            check(health_pb2.HealthCheckRequest(), timeout=CALL_DEADLINE)
        )
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def shown(request: object, limit: int = 2000) -> str:
    """The request for a failure message, cut short: fuzzed ones can be megabytes."""
    text = repr(request)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def assert_precise(rpc: Rpc, answer: Answer, request: object) -> None:
    """The answer is one `rpc` may give, and a refusal for bad input names a bad field."""
    assert answer.code in rpc.allowed, (
        f"{rpc.name} answered {answer.describe()} to {shown(request)}"
    )
    if answer.code == grpc.StatusCode.INVALID_ARGUMENT:
        assert answer.error is not None
        violations = field_violations(answer.error)
        assert violations, (
            f"{rpc.name}: INVALID_ARGUMENT without a field violation: {shown(request)}"
        )
