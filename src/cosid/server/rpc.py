"""How services are served: access checks, request decoding, error translation and one log
line per call.

Handlers raise the store's or validation's errors and bind what they touched with
`structlog.contextvars.bind_contextvars`; the wrapper first checks the listener's role
(`roles.Guard`, from `ListenerInterceptor`; on TCP the role is the client certificate's, from
`CertificateInterceptor`), then turns errors into statuses and writes the
request line with the outcome and duration: on the audit logger (`cosid.audit`, written at
every log level) for mutations and denied calls, with the listener, its role and the peer;
at debug level for reads. A denied call's line names the resource its request asked for
(`request_keys`), since no handler bound it. A `watch` stream also holds a watcher slot
(`quotas.WatcherSlots`) for as long as it is open.
`add_service` registers a servicer from its proto descriptor with decoding that never fails:
an undecodable request reaches the wrapper, which answers INVALID_ARGUMENT naming it (grpc
itself would answer UNKNOWN with a Python exception in the message).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass
from structlog.contextvars import bind_contextvars, clear_contextvars

from cosid.resources.validation import FieldViolation
from cosid.server.before_call import run_before
from cosid.server.errors import EXPECTED_ERRORS, DeniedError, InvalidArgumentError, to_status
from cosid.server.quotas import WatcherSlots
from cosid.server.request_keys import requested_resources
from cosid.server.roles import Guard, Listener, Policy, Role
from cosid.server.tls import caller_certificate, describe_peer, role_organisation

log = structlog.get_logger("cosid.rpc")

AUDIT_LOGGER = "cosid.audit"
audit_log = structlog.wrap_logger(
    None,
    wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    logger_factory_args=(AUDIT_LOGGER,),
)
"""Mutations and denied calls: written at every log level, to the audit file if configured."""

Request = TypeVar("Request")
Response = TypeVar("Response")
Service = TypeVar("Service")

Context = grpc.aio.ServicerContext[Any, Any]
UnaryHandler = Callable[[Service, Request, Context], Awaitable[Response]]
StreamHandler = Callable[[Service, Request, Context], AsyncIterator[Response]]


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Stands in for a request whose bytes are not a valid message of its type."""

    message_type: str

    def error(self) -> InvalidArgumentError:
        description = f"cannot be decoded as a {self.message_type}"
        return InvalidArgumentError([FieldViolation("request", description)])


def _decoder(message_class: type[Message]) -> Callable[[bytes], Message | Undecodable]:
    def decode(raw: bytes) -> Message | Undecodable:
        try:
            return message_class.FromString(raw)
        except DecodeError:
            return Undecodable(message_class.DESCRIPTOR.full_name)

    return decode


def add_service(server: grpc.aio.Server, servicer: object, service: ServiceDescriptor) -> None:
    """Serve every method of `service` from the servicer's method of the same name."""
    handlers = {}
    for method in service.methods:
        make_handler = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make_handler(
            getattr(servicer, method.name),
            request_deserializer=_decoder(GetMessageClass(method.input_type)),
            response_serializer=GetMessageClass(method.output_type).SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )


_guard: ContextVar[Guard] = ContextVar("guard")
"""The call's method and listener: set by `ListenerInterceptor` before the handler runs (in
the same task), checked by the handler's wrapper first thing."""

_watcher_slots: ContextVar[WatcherSlots] = ContextVar("watcher_slots")
"""Every listener's watches, counted together: set by `ListenerInterceptor` with the guard."""


class ListenerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # generic in stubs only
    """Tells every call which listener it came in on: a grpc.aio server cannot, so each
    listener has a server of its own, with its own interceptor."""

    def __init__(self, listener: Listener, policy: Policy, watcher_slots: WatcherSlots) -> None:
        self._listener = listener
        self._policy = policy
        self._watcher_slots = watcher_slots

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        service, _, method = details.method.removeprefix("/").partition("/")
        _guard.set(Guard(self._listener, self._policy, service, method))
        _watcher_slots.set(self._watcher_slots)
        return await continuation(details)


class CertificateInterceptor(ListenerInterceptor):
    """A TCP listener's: each caller's role is its client certificate's, at most the
    listener's. Only a handler's context shows the certificate, so every handler, grpc's own
    (health, reflection) too, is wrapped to settle the role first: a certificate that names
    no role reaches nothing."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await super().intercept_service(continuation, details)
        if handler is None:  # no such method: grpc answers UNIMPLEMENTED
            return handler
        return run_before(handler, _take_certificate_role)


_NO_ROLE = (
    "the client certificate names no role: its subject needs an organisation (O) of "
    + ", ".join(role_organisation(role) for role in Role)
)


async def _take_certificate_role(context: Context) -> None:
    """Give the call its certificate's role (for the guard the handler's wrapper checks), or
    refuse it, audited, when the certificate names none."""
    guard = _guard.get()
    certificate = caller_certificate(context)
    if certificate is None or certificate.role is None:
        audit_log.info(
            "request",
            service=guard.service,
            role=None,
            listener=guard.listener.address,
            peer=describe_peer(context),
            rpc=guard.method,
            code=grpc.StatusCode.PERMISSION_DENIED.name,
            error=_NO_ROLE,
        )
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, _NO_ROLE)
    role = min(certificate.role, guard.listener.role)
    _guard.set(dataclasses.replace(guard, listener=Listener(guard.listener.address, role)))


def _log_outcome(
    guard: Guard, context: Context, mutates: bool, started: float, code: grpc.StatusCode
) -> None:
    outcome = {
        "rpc": guard.method,
        "code": code.name,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if mutates or code == grpc.StatusCode.PERMISSION_DENIED:
        audit_log.info(
            "request",
            service=guard.service,
            role=guard.listener.role.value,
            listener=guard.listener.address,
            peer=describe_peer(context),
            **outcome,
        )
    elif code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED):
        log.info("request", **outcome)
    else:
        log.debug("request", **outcome)


def _admit(guard: Guard, request: object) -> None:
    """Refuse a call before its handler runs: a role too low for it (the audit line then names
    what the request asked to touch, which no handler bound), or an undecodable request."""
    try:
        guard.check(request)
    except DeniedError:
        bind_contextvars(**requested_resources(guard.service, request))
        raise
    if isinstance(request, Undecodable):
        raise request.error()


async def _abort(context: Context, error: Exception) -> None:
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
        async def run(self: Service, request: Request, context: Context) -> Response:
            clear_contextvars()
            guard = _guard.get()
            started, code = time.perf_counter(), grpc.StatusCode.OK
            try:
                _admit(guard, request)
                return await handler(self, request, context)
            except asyncio.CancelledError:  # the client went away or its deadline passed
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                code = to_status(error).code
                await _abort(context, error)
                raise  # unreachable: abort raises
            finally:
                _log_outcome(guard, context, mutates, started, code)

        return run

    return wrap


def stream(
    handler: StreamHandler[Service, Request, Response],
) -> StreamHandler[Service, Request, Response]:
    return _streamed(handler, watches=False)


def watch(
    handler: StreamHandler[Service, Request, Response],
) -> StreamHandler[Service, Request, Response]:
    """A stream that holds a watcher slot while it is open (RESOURCE_EXHAUSTED when none is
    free, see `WatcherSlots`): watches, unlike Lists, stay open for as long as clients like."""
    return _streamed(handler, watches=True)


def _streamed(
    handler: StreamHandler[Service, Request, Response], *, watches: bool
) -> StreamHandler[Service, Request, Response]:
    @functools.wraps(handler)
    async def run(self: Service, request: Request, context: Context) -> AsyncIterator[Response]:
        clear_contextvars()
        guard = _guard.get()
        started, code = time.perf_counter(), grpc.StatusCode.OK
        try:
            _admit(guard, request)
            slot = (
                _watcher_slots.get().held(guard.listener.address, context.peer())
                if watches
                else contextlib.nullcontext()
            )
            with slot:
                async for response in handler(self, request, context):
                    yield response
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception as error:
            code = to_status(error).code
            await _abort(context, error)
        finally:
            _log_outcome(guard, context, False, started, code)

    return run
