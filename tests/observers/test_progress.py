"""An observer's progress: waiters are let go exactly when the count reaches theirs."""

from __future__ import annotations

import asyncio

from cosid.observers.progress import Progress


async def test_waiters_go_when_the_count_reaches_theirs_and_not_before() -> None:
    progress = Progress()
    waiting = {number: asyncio.create_task(progress.reach(number)) for number in (3, 1, 2, 5)}
    await asyncio.sleep(0)
    progress.advance(2)
    await asyncio.sleep(0)
    assert {n for n, task in waiting.items() if task.done()} == {1, 2}
    progress.advance(4)
    await asyncio.sleep(0)
    assert {n for n, task in waiting.items() if task.done()} == {1, 2, 3}
    await progress.reach(4)  # already there: no wait
    progress.restart()  # a new run counts from 0: the last waiter is let go too
    await asyncio.wait_for(waiting[5], 1)
    assert progress.reached == 0
