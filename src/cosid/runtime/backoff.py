"""Exponential backoff: how long to wait after the n-th failure in a row."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_seconds: float = 0.1
    max_seconds: float = 30.0

    def delay(self, failures: int) -> float:
        return min(self.max_seconds, self.initial_seconds * 2.0 ** max(0, failures - 1))
