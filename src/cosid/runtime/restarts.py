"""A runtime part that crashed (a controller's loop, an observer): counted, logged, and
restarted after a backoff, never silently lost; and never holding readiness back."""

from __future__ import annotations

import asyncio

import structlog

from cosid.runtime.backoff import Backoff
from cosid.runtime.metrics import ControllerMetrics

log = structlog.get_logger("cosid.runtime")


class Restarts:
    def __init__(
        self,
        part: str,
        name: str,
        backoff: Backoff,
        metrics: ControllerMetrics,
        settled: asyncio.Event,
    ) -> None:
        self._part = part
        """What crashes: "controller", "observer" (the log's words)."""
        self._name = name
        self._backoff = backoff
        self._metrics = metrics
        self._settled = settled
        self.failures = 0
        """Crashes in a row (the backoff grows with them); the part resets it once it works."""

    async def after(self, error: Exception) -> None:
        """The part crashed with `error`: count and log it, then wait out the backoff."""
        self.failures += 1
        self._metrics.restarts += 1
        self._settled.set()  # a crashed part must not hold readiness back
        delay = self._backoff.delay(self.failures)
        log.error(
            f"{self._part} crashed, restarting",
            **{self._part: self._name},
            error=str(error) or type(error).__name__,
            restart_in_seconds=delay,
        )
        await asyncio.sleep(delay)
