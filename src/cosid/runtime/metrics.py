"""Counters and durations per controller, for logs and metrics endpoints."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ControllerMetrics:
    reconciles: int = 0
    applied: int = 0
    repairs: int = 0
    reconcile_failures: int = 0
    teardowns: int = 0
    teardown_failures: int = 0
    restarts: int = 0
    seconds_total: float = 0.0
    seconds_max: float = 0.0

    def observe(self, seconds: float) -> None:
        self.seconds_total += seconds
        self.seconds_max = max(self.seconds_max, seconds)
