"""What an observer is, and how the runtime runs one.

A controller makes specs true; an observer has no input at all: it mirrors what the system
has into its outputs, whoever made it (every link, address and route of the kernel, as
Talos' status controllers do), so that clients see the node, not only what they asked for.

The observer yields Observations; the runtime writes them (an unchanged resource writes
nothing), removes what a complete observation no longer has, restarts an observer that raises
(with backoff, counted), and counts its observations and writes. An observer has settled once
its first, complete observation is written: readiness waits for that, so a client of a ready
daemon sees the whole node.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from cosid.runtime.backoff import Backoff
from cosid.runtime.controller import Output
from cosid.runtime.metrics import ControllerMetrics
from cosid.runtime.restarts import Restarts
from cosid.runtime.writer import OutputWriter
from cosid.state.resource import Pointer, Spec
from cosid.state.state import State
from cosid.state.store import StoreClosedError

CATCH_UP_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Observed:
    """One thing the system has, as a resource's spec and labels."""

    spec: Spec
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Observation:
    seen: Mapping[Pointer, Observed | None]
    """What changed: a resource to write, or None for one that is gone."""
    complete: bool = False
    """Everything the system has: resources of the outputs not in `seen` are gone too."""


class Observer(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def outputs(self) -> tuple[Output, ...]: ...

    @property
    def serves(self) -> tuple[str, ...]:
        """The controllers whose items' statuses it writes: their items wait for it (see
        `ObserverRun.caught_up`); other controllers' do not."""
        ...

    def observe(self) -> AsyncIterator[Observation]:
        """A complete observation first, then the changes as they come, for as long as the
        runtime iterates; raise to be restarted."""
        ...

    async def caught_up(self) -> None:
        """Return once every change the system announced before this call is written (what
        a controller's success waits for: see `ObserverRun.caught_up`)."""
        ...


class ObserverRun:
    """One observer's life: its observations written, its restarts."""

    def __init__(self, state: State, observer: Observer, backoff: Backoff) -> None:
        self._observer = observer
        self._backoff = backoff
        self.serves = frozenset(observer.serves)
        """The controllers whose items wait for it."""
        kinds = frozenset(o.kind for o in observer.outputs)
        self._writer = OutputWriter(state, observer.name, kinds)
        self.metrics = ControllerMetrics()
        """reconciles: observations written; applied: resources they named (written when
        changed) or removed."""
        self.settled = asyncio.Event()
        """Set once the first complete observation is written (or the run crashed)."""

    async def caught_up(self) -> None:
        """Return once the observer has written what the system announced so far, or after
        `CATCH_UP_SECONDS` (an observer that crashed or lags must not stall the controllers):
        a controller's item is Reconciled only then, so a client that waited for it reads
        statuses that show its change."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CATCH_UP_SECONDS):
                await self.settled.wait()
                await self._observer.caught_up()

    async def run(self) -> None:
        restarts = Restarts(
            "observer", self._observer.name, self._backoff, self.metrics, self.settled
        )
        while True:
            try:
                async for observation in self._observer.observe():
                    await self._write(observation)
                    self.settled.set()
                    restarts.failures = 0
                return
            except StoreClosedError:
                return
            except Exception as error:
                await restarts.after(error)

    async def _write(self, observation: Observation) -> None:
        started = time.perf_counter()
        gone = [pointer for pointer, seen in observation.seen.items() if seen is None]
        if observation.complete:
            for output in self._observer.outputs:
                stored = await self._writer.list(output.kind)
                gone += [r.pointer for r in stored if r.pointer not in observation.seen]
        for pointer in gone:
            await self._writer.destroy(pointer)
        for pointer, seen in observation.seen.items():
            if seen is not None:
                await self._writer.put(pointer, seen.spec, seen.labels)
        self.metrics.reconciles += 1
        self.metrics.applied += len(observation.seen) + len(gone)
        self.metrics.observe(time.perf_counter() - started)
