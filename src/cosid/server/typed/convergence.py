"""Apply's `wait`: until every item's condition says its controller made it true.

An item has converged when its condition is ready at (or past) the version Apply stored; it
has failed when the controller's last attempt, at that version or later, failed. Conditions
are watched, not polled: the watch starts before the first look, so no change is missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from enum import Enum

import grpc

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.runtime.conditions import CONDITIONS, Condition, is_waiting
from cosid.server.errors import StatusError
from cosid.server.typed.views import Views
from cosid.state.resource import Resource
from cosid.state.state import State

MAX_WAIT_SECONDS = 300.0
"""The longest a wait lasts when neither the call's deadline nor the request says."""
DEADLINE_SHARE = 0.9
"""The share of the call's remaining time a wait may use: the answer (with the status that
says why it is not done) must reach the client before its own deadline ends the call."""
MAX_DETAIL_BYTES = 4096
"""Detail messages travel in the trailers, which clients cap at 8 KiB by default."""


class Progress(Enum):
    PENDING = "pending"
    CONVERGED = "converged"
    FAILED = "failed"


def progress(condition: Condition | None, version: int) -> Progress:
    if condition is None or is_waiting(condition.reason):
        return Progress.PENDING
    if condition.ready and condition.observed_version >= version:
        return Progress.CONVERGED
    if not condition.ready and condition.attempts and condition.attempted_version >= version:
        return Progress.FAILED
    return Progress.PENDING


def overall(outcomes: Iterable[Progress]) -> Progress:
    """One item under several controllers: failed if one failed, converged when all did."""
    found = set(outcomes)
    if Progress.FAILED in found:
        return Progress.FAILED
    return Progress.CONVERGED if found == {Progress.CONVERGED} else Progress.PENDING


def wait_seconds(requested: float | None, remaining: float | None) -> float:
    """How long to wait: as requested, within the share of the call's time left."""
    limit = MAX_WAIT_SECONDS if remaining is None else remaining * DEADLINE_SHARE
    return limit if requested is None else min(requested, limit)


async def wait_converged(
    state: State,
    views: Views,
    stored: Sequence[Resource],
    seconds: float,
    changes: Sequence[common_pb2.Change],
) -> None:
    """Return once every stored item converged; StatusError FAILED_PRECONDITION when one
    failed, DEADLINE_EXCEEDED when `seconds` pass first (both with the items not done and
    the `changes` Apply made)."""
    pending = {resource.metadata.id: resource.version for resource in stored}
    conditions = await state.watch_kind(CONDITIONS)
    try:
        async with asyncio.timeout(seconds):
            changed: Collection[str] = list(pending)
            while True:
                failed = await _look(views, pending, changed)
                if failed:
                    raise await _not_converged(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        views,
                        changes,
                        failed,
                        f"stored, but {len(failed)} of {len(stored)} failed to apply",
                    )
                if not pending:
                    return
                batch = await anext(conditions)
                changed = {
                    id
                    for event in batch
                    if event.resource is not None
                    and (id := views.item_of_condition(event.resource.metadata.id)) in pending
                }
    except TimeoutError:
        raise await _not_converged(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            views,
            changes,
            list(pending),
            f"stored, but {len(pending)} of {len(stored)} not applied within {seconds:g} s",
        ) from None
    finally:
        await conditions.aclose()  # type: ignore[attr-defined]


async def _look(views: Views, pending: dict[str, int], ids: Collection[str]) -> list[str]:
    """Of `ids` (pending items whose condition may have changed), drop those that converged
    from `pending`; the ids of those that failed."""
    failed = []
    for id in ids:
        outcome = overall(progress(c, pending[id]) for c in await views.conditions(id))
        if outcome == Progress.CONVERGED:
            del pending[id]
        elif outcome == Progress.FAILED:
            failed.append(id)
    return failed


def describe_failure(id: str, condition: Condition) -> str:
    """``controller: reason: message``, with the id first unless the message names it."""
    text = f"{condition.controller}: {condition.reason}: {condition.message}"
    return text if id in condition.message else f"{id}: {text}"


async def _not_converged(
    code: grpc.StatusCode,
    views: Views,
    changes: Sequence[common_pb2.Change],
    ids: Sequence[str],
    summary: str,
) -> StatusError:
    """The error, its message naming the first failure and why, its detail an ApplyResponse
    with what Apply changed and the views of the items not done, as many of each as fit the
    trailers (half the room for the changes; diffs are left out): a batch of 1000 must not
    turn the answer into the client's "metadata size exceeds hard limit"."""
    response = views.api.apply_response_message()
    for change in changes:
        entry = common_pb2.Change(id=change.id, action=change.action)
        if response.ByteSize() + entry.ByteSize() >= MAX_DETAIL_BYTES // 2:
            break
        response.changes.append(entry)  # type: ignore[attr-defined]
    reasons: list[str] = []
    for id in ids:
        reasons.extend(
            describe_failure(id, condition)
            for condition in await views.conditions(id)
            if condition is not None and condition.message and not condition.ready
        )
        view = await views.current(id)
        if view is not None and response.ByteSize() + view.ByteSize() < MAX_DETAIL_BYTES:
            response.items.append(view)  # type: ignore[attr-defined]
    first = f"; {reasons[0]}" if reasons else ""
    more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return StatusError(code, f"{summary}{first}{more}", [response])
