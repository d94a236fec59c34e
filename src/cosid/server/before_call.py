"""Running a step before any handler of a grpc.aio server, grpc's own (health, reflection) too.

A server interceptor sees only the method name and metadata; what a call's context knows (the
peer's TLS certificate) reaches only its handler. So an interceptor that needs the context
returns the handler wrapped, with the step run first, in the handler's own task (a ContextVar
the step sets is seen by the handler).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

Context = grpc.aio.ServicerContext[Any, Any]
Step = Callable[[Context], Awaitable[None]]
"""Runs before the handler; it refuses the call by aborting the context."""

_KINDS = {
    "unary_unary": grpc.unary_unary_rpc_method_handler,
    "unary_stream": grpc.unary_stream_rpc_method_handler,
    "stream_unary": grpc.stream_unary_rpc_method_handler,
    "stream_stream": grpc.stream_stream_rpc_method_handler,
}


def run_before(
    handler: grpc.RpcMethodHandler[Any, Any], step: Step
) -> grpc.RpcMethodHandler[Any, Any]:
    """`handler`, with `step` awaited before its behaviour (of whichever of the four kinds)."""
    kind, behavior = next(
        (kind, behavior) for kind in _KINDS if (behavior := getattr(handler, kind)) is not None
    )
    wrapped: Callable[[Any, Context], Any]
    if inspect.isasyncgenfunction(behavior):  # streams its responses by yielding them

        async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
            await step(context)
            async for response in behavior(request, context):
                yield response

    else:  # a coroutine: returns its response, or streams by context.write

        async def wrapped(request: Any, context: Context) -> Any:
            await step(context)
            return await behavior(request, context)

    return _KINDS[kind](
        wrapped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
