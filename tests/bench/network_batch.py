"""Many addresses or routes made three ways in one fresh network namespace: cosid's typed batch
Apply with wait, `ip -batch` with the same lines, and one `ip` process per line.

Each round: Apply adds everything, Deletes (DELETES_IN_FLIGHT at a time) take it away again
(cosid removes what it added), `ip -batch` adds, an untimed `ip -batch` deletes, the processes
add, an untimed `ip -batch` deletes. The kernel is read with `ip -j` after each way: a way that
did not do all the work, or a reset that left something behind, fails the benchmark instead of
timing nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from cosid.resources.typed import TypedApi
from tests.bench.cpu import CpuMeter
from tests.bench.load import CALL_TIMEOUT
from tests.bench.netns_ip import NamedNetns
from tests.support.daemon import Daemon
from tests.support.typed import TypedStub, typed_stub

T = TypeVar("T")

DELETES_IN_FLIGHT = 32
DELETE_TIMEOUT = 300.0
"""One Delete may queue behind the others in flight for this long."""


@dataclass(frozen=True)
class Workload:
    """The same objects as cosid specs and as ip(8) lines, and how the kernel shows them."""

    netns: NamedNetns
    api: TypedApi
    specs: Sequence[dict[str, Any]]
    adds: Sequence[str]
    """ip(8) lines (`addr add ...`) adding each object."""
    deletes: Sequence[str]
    shown: set[str]
    """What `read` returns once every object is there."""
    read: Callable[[], set[str]]
    """What the kernel shows of this kind of object: nothing at the start of each way."""

    def check(self, wanted: set[str], after: str) -> None:
        """Raises unless the kernel shows exactly `wanted`."""
        current = self.read()
        if current != wanted:
            missing, extra = sorted(wanted - current), sorted(current - wanted)
            raise RuntimeError(
                f"after {after}: {len(missing)} missing {missing[:1]}, "
                f"{len(extra)} left over {extra[:1]}"
            )

    def ip_way(self, add: Callable[[Sequence[str]], float], name: str) -> float:
        """Seconds `add` takes to add everything; checked, then all deleted again."""
        seconds = add(self.adds)
        self.check(self.shown, name)
        self.netns.batch(self.deletes)
        self.check(set(), f"deleting what {name} added")
        return seconds


@dataclass
class BatchTimes:
    """Seconds each way took, one entry per round."""

    apply: list[float] = field(default_factory=list)
    delete: list[float] = field(default_factory=list)
    ip_batch: list[float] = field(default_factory=list)
    ip_processes: list[float] = field(default_factory=list)
    apply_failure: str | None = None
    """Why an Apply failed (its status code; the daemon's log says more), if one did: its
    specs are deleted all the same and the ip(8) ways still measured."""


async def timed(meter: CpuMeter, call: Awaitable[T]) -> tuple[float, T]:
    """Wall seconds of `call` and its result, with the daemon's CPU during it added to
    `meter`."""
    meter.start()
    started = time.perf_counter()
    result = await call
    seconds = time.perf_counter() - started
    meter.stop()
    return seconds, result


async def delete_all(stub: TypedStub, ids: Sequence[str]) -> None:
    """One Delete per id, each waiting for its undo, DELETES_IN_FLIGHT at a time: there is no
    batch Delete, and one at a time takes a second each among a thousand (see the network
    domain's Performance section)."""
    slots = asyncio.Semaphore(DELETES_IN_FLIGHT)

    async def delete(id: str) -> None:
        async with slots:
            await stub.delete(id, DELETE_TIMEOUT)

    await asyncio.gather(*(delete(id) for id in ids))


async def measure(
    daemon: Daemon, workload: Workload, rounds: int, meters: tuple[CpuMeter, CpuMeter]
) -> BatchTimes:
    """`rounds` rounds of the three ways; `meters` (Apply, Delete) measure the daemon's CPU
    during its calls."""
    apply_meter, delete_meter = meters
    times = BatchTimes()
    workload.check(set(), "making the namespace")
    async with typed_stub(daemon, workload.api) as stub:
        await asyncio.wait_for(stub.channel.channel_ready(), CALL_TIMEOUT)
        items = [stub.item(spec) for spec in workload.specs]
        for _ in range(rounds):
            batch = stub.apply(*items, wait=True, deadline=CALL_TIMEOUT)
            try:
                seconds, _ = await timed(apply_meter, batch)
            except grpc.aio.AioRpcError as error:
                times.apply_failure = error.code().name
            else:
                times.apply.append(seconds)
                workload.check(workload.shown, "cosid's Apply")
            ids = [item.metadata.id for item in await stub.list()]
            seconds, _ = await timed(delete_meter, delete_all(stub, ids))
            times.delete.append(seconds)
            workload.check(set(), "cosid's Deletes")
            times.ip_batch.append(workload.ip_way(workload.netns.batch, "ip -batch"))
            times.ip_processes.append(workload.ip_way(workload.netns.processes, "ip processes"))
    return times
