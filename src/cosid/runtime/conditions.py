"""Per-item progress every controller gets for free: a condition resource beside the item.

Visible through the State service like any resource, merged into typed status views, and what
`Apply` with `wait` waits on: ready at the applied version, or the reason it is not.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from cosid.resources.namespaces import RUNTIME
from cosid.state.registry import ResourceDefinition
from cosid.state.resource import Kind, Pointer

CONDITIONS = Kind(RUNTIME.name, "Conditions.runtime.cosi.dev")
CONDITIONS_DEFINITION = ResourceDefinition(CONDITIONS.type, CONDITIONS.namespace, writable=False)


class Reason(StrEnum):
    """The runtime's own reasons; a failure whose error has a `reason` word (every driver
    error does: NotSupported, ReadOnly, ...) carries that word instead."""

    RECONCILED = "Reconciled"
    RECONCILE_FAILED = "ReconcileFailed"
    TEARDOWN_FAILED = "TeardownFailed"


WAITING_PREFIX = "Waiting"
"""Reasons of items that wait for something else to appear (WaitingForLink,
WaitingForMaster...): not errors to back off from, so such an item is retried on any change
notice, and a client's wait on it goes on."""


def is_waiting(reason: str) -> bool:
    return reason.startswith(WAITING_PREFIX)


class Condition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    controller: str
    observed_version: int
    """The item's version the controller last reconciled successfully (0: never)."""
    attempted_version: int = 0
    """The item's version of the last attempt, successful or not: a failure at the version a
    client applied is the answer to its wait, an older one is not."""
    ready: bool
    reason: str
    message: str = ""
    attempts: int = 0
    """Failures in a row; 0 once it succeeds."""


def condition_pointer(controller: str, item: Pointer) -> Pointer:
    """Keyed by controller, then the item's type and id (its namespace follows from its type)."""
    return Pointer(CONDITIONS.namespace, CONDITIONS.type, f"{controller}/{item.type}/{item.id}")
