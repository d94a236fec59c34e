"""How far an observer has written: a count that grows, and who waits for it to reach theirs.

Each waiter is woken once, when the count reaches its number, not at every step: a thousand
items waiting for the statuses of a burst cost a thousand wakeups, not a thousand per write.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class Progress:
    def __init__(self) -> None:
        self.reached = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        """Lowest number first (and, among equals, first come)."""
        self._order = itertools.count()

    async def reach(self, number: int) -> None:
        """Return once the count is `number` or more."""
        if self.reached >= number:
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (number, next(self._order), waiter))
        await waiter

    def advance(self, number: int) -> None:
        """The count is `number` now: wake who waited for it or less."""
        self.reached = number
        while self._waiters and self._waiters[0][0] <= number:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)

    def restart(self) -> None:
        """Counting starts again from 0 (a new run): everyone waiting is let go."""
        self.advance(0)
        for _, _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters = []
