"""Wrappers every RPC handler goes through: error translation and one log line per call.

Handlers raise the store's or validation's errors and bind what they touched with
`structlog.contextvars.bind_contextvars`; the wrapper turns errors into statuses and writes
the request line (info for mutations, debug for reads) with the outcome and duration.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars

from cosid.server.errors import EXPECTED_ERRORS, to_status

log = structlog.get_logger("cosid.rpc")

Request = TypeVar("Request")
Response = TypeVar("Response")
Service = TypeVar("Service")

UnaryHandler = Callable[[Service, Request, grpc.aio.ServicerContext[Any, Any]], Awaitable[Response]]
StreamHandler = Callable[
    [Service, Request, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Response]
]


def _log_outcome(rpc: str, mutates: bool, started: float, code: grpc.StatusCode) -> None:
    level = log.info if mutates or code == grpc.StatusCode.INTERNAL else log.debug
    level(
        "request",
        rpc=rpc,
        code=code.name,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: Exception) -> None:
    if not isinstance(error, EXPECTED_ERRORS):
        log.exception("unexpected error", exc_info=error)
    status = to_status(error)
    bind_contextvars(error=status.details)
    await context.abort(status.code, status.details, status.trailing_metadata)


def unary(
    *, mutates: bool
) -> Callable[[UnaryHandler[Service, Request, Response]], UnaryHandler[Service, Request, Response]]:
    def wrap(
        handler: UnaryHandler[Service, Request, Response],
    ) -> UnaryHandler[Service, Request, Response]:
        @functools.wraps(handler)
        async def run(
            self: Service, request: Request, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Response:
            clear_contextvars()
            started, code = time.perf_counter(), grpc.StatusCode.OK
            try:
                return await handler(self, request, context)
            except Exception as error:
                code = to_status(error).code
                await _abort(context, error)
                raise  # unreachable: abort raises
            finally:
                _log_outcome(handler.__name__, mutates, started, code)

        return run

    return wrap


def stream(
    handler: StreamHandler[Service, Request, Response],
) -> StreamHandler[Service, Request, Response]:
    @functools.wraps(handler)
    async def run(
        self: Service, request: Request, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Response]:
        clear_contextvars()
        started, code = time.perf_counter(), grpc.StatusCode.OK
        try:
            async for response in handler(self, request, context):
                yield response
        except Exception as error:
            code = to_status(error).code
            await _abort(context, error)
        finally:
            _log_outcome(handler.__name__, False, started, code)

    return run
