"""Wrappers every RPC handler goes through: error translation and one log line per call.

Handlers raise the store's or validation's errors and bind what they touched with
`structlog.contextvars.bind_contextvars`; the wrapper turns errors into statuses and writes
the request line (info for mutations, debug for reads) with the outcome and duration.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import grpc
import structlog
from google.protobuf.message import DecodeError
from structlog.contextvars import bind_contextvars, clear_contextvars

from cosid.server.errors import EXPECTED_ERRORS, FieldViolation, InvalidArgumentError, to_status

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
            except asyncio.CancelledError:  # the client went away or its deadline passed
                code = grpc.StatusCode.CANCELLED
                raise
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
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception as error:
            code = to_status(error).code
            await _abort(context, error)
        finally:
            _log_outcome(handler.__name__, False, started, code)

    return run


UnaryBehaviour = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
StreamBehaviour = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # not subscriptable at run time
    _ServerInterceptor = grpc.aio.ServerInterceptor


class DecodeRequests(_ServerInterceptor):
    """Decode requests of the services under `prefix` in the handler instead of in grpc.

    grpc answers an undecodable request with UNKNOWN and a Python exception in the message;
    this answers INVALID_ARGUMENT with a BadRequest naming the request, like any bad input.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(self._prefix):
            return handler
        decode = handler.request_deserializer
        if decode is None:
            return handler

        async def request(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                return decode(raw)
            except DecodeError:
                clear_contextvars()
                started = time.perf_counter()
                violation = FieldViolation("request", f"cannot be decoded as a {method} request")
                try:
                    await _abort(context, InvalidArgumentError([violation]))
                finally:
                    rpc = method.rsplit("/", 1)[-1]
                    _log_outcome(rpc, False, started, grpc.StatusCode.INVALID_ARGUMENT)

        if handler.unary_unary is not None:
            unary = cast(UnaryBehaviour, handler.unary_unary)

            async def unary_unary(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                return await unary(await request(raw, context), context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, response_serializer=handler.response_serializer
            )
        if handler.unary_stream is not None:
            streaming = cast(StreamBehaviour, handler.unary_stream)

            async def unary_stream(
                raw: bytes, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                async for response in streaming(await request(raw, context), context):
                    yield response

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, response_serializer=handler.response_serializer
            )
        return handler
