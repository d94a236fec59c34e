"""sysctl keys set three ways in one network namespace, the sandboxed daemon's (never the host's):
cosid's typed batch Apply with wait, a loop writing /proc/sys, and one sysctl(8) process per key.

Every way changes every key (to its value plus one, or back), in this order each round: Apply
raises, Delete restores (cosid puts back what it found), the write loop raises, the sysctl
processes restore; so each round ends at the namespace's own values. The kernel is read after
each way: a way that did not set every key fails the benchmark instead of timing nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from cosid.resources import sysctl
from tests.bench.cpu import CpuMeter
from tests.bench.load import CALL_TIMEOUT
from tests.bench.netns_sysctl import Settings
from tests.support.daemon import Daemon
from tests.support.typed import typed_stub


@dataclass(frozen=True)
class Netns:
    """The network namespace of process `pid`, worked in by `netns_sysctl` child processes
    (entered with nsenter)."""

    pid: int

    async def _run(self, command: str, *arguments: str, settings: Settings | None = None) -> Any:
        child = await asyncio.create_subprocess_exec(
            *("nsenter", "-t", str(self.pid), "-n"),
            *(sys.executable, "-m", "tests.bench.netns_sysctl", command, *arguments),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        sent = json.dumps(settings or []).encode()
        output, _ = await asyncio.wait_for(child.communicate(sent), CALL_TIMEOUT)
        if child.returncode:
            raise RuntimeError(f"netns_sysctl {command} exited with {child.returncode}")
        return json.loads(output)

    async def discover(self, count: int) -> Settings:
        return [(key, value) for key, value in await self._run("discover", str(count))]

    async def check(self, wanted: Settings, after: str) -> None:
        """Raises unless the kernel holds every wanted value."""
        current = dict(await self._run("read", settings=wanted))
        wrong = [key for key, value in wanted if current[key] != value]
        if wrong:
            raise RuntimeError(f"after {after}, {len(wrong)} keys are not set, {wrong[0]} first")

    async def write_loop(self, settings: Settings) -> float:
        seconds: float = await self._run("write-loop", settings=settings)
        await self.check(settings, "the write loop")
        return seconds

    async def sysctl_processes(self, settings: Settings) -> float:
        seconds: float = await self._run("sysctl-processes", settings=settings)
        await self.check(settings, "the sysctl processes")
        return seconds


@dataclass
class SysctlTimes:
    """Seconds each way took, one entry per round."""

    apply: list[float] = field(default_factory=list)
    delete: list[float] = field(default_factory=list)
    write_loop: list[float] = field(default_factory=list)
    sysctl_processes: list[float] = field(default_factory=list)


async def _timed(meter: CpuMeter, call: Awaitable[object]) -> float:
    meter.start()
    started = time.perf_counter()
    await call
    seconds = time.perf_counter() - started
    meter.stop()
    return seconds


async def measure(
    daemon: Daemon, netns: Netns, keys: int, rounds: int, meters: tuple[CpuMeter, CpuMeter]
) -> SysctlTimes:
    """`rounds` rounds of the three ways over `keys` keys of `netns`, the daemon's; `meters`
    (Apply, Delete) measure the daemon's CPU during its calls."""
    originals = await netns.discover(keys)
    raised = [(key, str(int(value) + 1)) for key, value in originals]
    apply_meter, delete_meter = meters
    times = SysctlTimes()
    async with typed_stub(daemon, sysctl.API) as stub:
        await asyncio.wait_for(stub.channel.channel_ready(), CALL_TIMEOUT)
        specs = [stub.item({"key": key, "value": value}) for key, value in raised]

        async def delete_all() -> None:
            for key, _ in raised:
                await stub.delete(key, CALL_TIMEOUT)

        for _ in range(rounds):
            batch = stub.apply(*specs, wait=True, deadline=CALL_TIMEOUT)
            times.apply.append(await _timed(apply_meter, batch))
            await netns.check(raised, "cosid's Apply")
            times.delete.append(await _timed(delete_meter, delete_all()))
            await netns.check(originals, "cosid's Deletes")
            times.write_loop.append(await netns.write_loop(raised))
            times.sysctl_processes.append(await netns.sysctl_processes(originals))
    return times
