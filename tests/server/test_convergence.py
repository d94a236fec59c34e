"""When Apply's wait is over: what a condition says about the version a client applied."""

from __future__ import annotations

import pytest

from cosid.runtime.conditions import Condition
from cosid.server.typed.convergence import (
    DEADLINE_SHARE,
    MAX_WAIT_SECONDS,
    Progress,
    overall,
    progress,
    wait_seconds,
)


def condition(ready: bool, observed: int, attempted: int, attempts: int = 0) -> Condition:
    return Condition(
        controller="c",
        observed_version=observed,
        attempted_version=attempted,
        ready=ready,
        reason="Reconciled" if ready else "ReadOnly",
        attempts=attempts,
    )


@pytest.mark.parametrize(
    ("found", "version", "expected"),
    [
        (None, 1, Progress.PENDING),
        (condition(True, 3, 3), 3, Progress.CONVERGED),
        (condition(True, 4, 4), 3, Progress.CONVERGED),  # a later version (its finalizer)
        (condition(True, 2, 2), 3, Progress.PENDING),  # ready, but for an older spec
        (condition(False, 2, 3, attempts=1), 3, Progress.FAILED),
        (condition(False, 2, 2, attempts=4), 3, Progress.PENDING),  # failed an older spec
        (condition(False, 0, 3, attempts=0), 3, Progress.PENDING),
    ],
)
def test_progress_judges_the_applied_version(
    found: Condition | None, version: int, expected: Progress
) -> None:
    assert progress(found, version) == expected


def test_the_wait_ends_before_the_callers_deadline() -> None:
    assert wait_seconds(None, 10.0) == pytest.approx(10.0 * DEADLINE_SHARE)
    assert wait_seconds(30.0, 10.0) == pytest.approx(10.0 * DEADLINE_SHARE)
    assert wait_seconds(2.0, 10.0) == 2.0
    assert wait_seconds(None, None) == MAX_WAIT_SECONDS
    assert wait_seconds(0.0, None) == 0.0


def test_an_item_waiting_for_another_is_pending_not_failed() -> None:
    waiting = Condition(
        controller="links",
        observed_version=0,
        attempted_version=3,
        ready=False,
        reason="WaitingForMaster",
        message="bridge br0 does not exist yet",
        attempts=1,
    )
    assert progress(waiting, 3) == Progress.PENDING


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([Progress.CONVERGED, Progress.CONVERGED], Progress.CONVERGED),
        ([Progress.CONVERGED, Progress.PENDING], Progress.PENDING),
        ([Progress.PENDING, Progress.FAILED], Progress.FAILED),
        ([Progress.CONVERGED, Progress.FAILED], Progress.FAILED),
    ],
)
def test_an_item_under_several_controllers_is_done_when_all_are(
    outcomes: list[Progress], expected: Progress
) -> None:
    assert overall(outcomes) == expected
