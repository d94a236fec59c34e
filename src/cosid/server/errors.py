"""One place that turns what went wrong into the gRPC status a client sees.

Invalid input carries google.rpc.BadRequest field violations, so a client (or grpcurl user)
learns which field to fix; nothing else leaks (no stack traces, no internal paths).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from cosid.resources.validation import FieldViolation
from cosid.state.codec import CodecError
from cosid.state.errors import (
    AlreadyExistsError,
    InvalidBookmarkError,
    InvalidQueryError,
    NotFoundError,
    OwnerConflictError,
    PendingFinalizersError,
    PhaseConflictError,
    UnknownNamespaceError,
    UnknownTypeError,
    VersionConflictError,
)
from cosid.state.state import InvalidWatchOptionsError
from cosid.state.store import StoreClosedError


class InvalidArgumentError(Exception):
    """Request fields that fail validation, every one of them named."""

    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))


class DeniedError(Exception):
    """A request the caller is not allowed to make (e.g. writing a read-only namespace)."""


class StatusError(Exception):
    """An outcome that is its own status: a code, a message, and detail messages for the
    client (e.g. the current status of what an Apply waited for)."""

    def __init__(
        self, code: grpc.StatusCode, message: str, details: Sequence[Message] = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = tuple(details)

    def status(self) -> grpc.Status:
        packed = []
        for detail in self.details:
            wrapped = any_pb2.Any()
            wrapped.Pack(detail)
            packed.append(wrapped)
        return rpc_status.to_status(
            status_pb2.Status(code=self.code.value[0], message=str(self), details=packed)
        )


class WatcherOverrunError(Exception):
    """A watcher fell behind the bounded history; it was sent an ERRORED event first."""


_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (UnknownNamespaceError, grpc.StatusCode.NOT_FOUND),
    (UnknownTypeError, grpc.StatusCode.NOT_FOUND),
    (AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (OwnerConflictError, grpc.StatusCode.PERMISSION_DENIED),
    (DeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (VersionConflictError, grpc.StatusCode.FAILED_PRECONDITION),
    (PendingFinalizersError, grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidBookmarkError, grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidQueryError, grpc.StatusCode.INVALID_ARGUMENT),
    (WatcherOverrunError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (StoreClosedError, grpc.StatusCode.UNAVAILABLE),
)

EXPECTED_ERRORS = (
    InvalidArgumentError,
    StatusError,
    CodecError,
    PhaseConflictError,
    InvalidWatchOptionsError,
    *(error for error, _ in _CODES),
)
"""Errors that are the client's (or the moment's) fault; anything else is a bug of ours."""


def to_status(error: Exception) -> grpc.Status:
    """The status for an expected error; unexpected ones become a bare INTERNAL."""
    if isinstance(error, CodecError):
        error = InvalidArgumentError([FieldViolation(error.field, error.message)])
    elif isinstance(error, InvalidWatchOptionsError):
        error = InvalidArgumentError([FieldViolation(f"options.{error.field}", error.message)])
    elif isinstance(error, PhaseConflictError):
        error = InvalidArgumentError([FieldViolation("options.expected_phase", str(error))])
    if isinstance(error, InvalidArgumentError):
        return _bad_request(error)
    if isinstance(error, StatusError):
        return error.status()
    for error_type, code in _CODES:
        if isinstance(error, error_type):
            return _status(code, str(error))
    return _status(grpc.StatusCode.INTERNAL, "internal error (logged by the daemon)")


def _status(code: grpc.StatusCode, message: str) -> grpc.Status:
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message))


def _bad_request(error: InvalidArgumentError) -> grpc.Status:
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ],
        ),
    )
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(error), details=[detail]),
    )
