"""CPU use during a measured window: the server's (from /proc) and this load process's own.

A figure means little without knowing which side ran out of CPU first; on a two-core machine
the server and the load generator each have about one core.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system time of another process, where /proc tells it (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


class CpuMeter:
    """Share of one core used by the server and by the load over the measured windows.

    Each start()/stop() pair is a window; the shares are over all windows together.
    """

    def __init__(self, server_pid: int) -> None:
        self._server_pid = server_pid
        self._started: tuple[float, float, float | None] | None = None
        self._wall = 0.0
        self._load = 0.0
        self._server: float | None = 0.0

    def start(self) -> None:
        self._started = (
            time.perf_counter(),
            time.process_time(),
            process_cpu_seconds(self._server_pid),
        )

    def stop(self) -> None:
        assert self._started is not None, "stop() before start()"
        wall, load, server = self._started
        self._started = None
        self._wall += time.perf_counter() - wall
        self._load += time.process_time() - load
        server_now = process_cpu_seconds(self._server_pid)
        if self._server is None or server is None or server_now is None:
            self._server = None
        else:
            self._server += server_now - server

    @property
    def server(self) -> float | None:
        return None if self._server is None or not self._wall else self._server / self._wall

    @property
    def load(self) -> float | None:
        return self._load / self._wall if self._wall else None

    @property
    def text(self) -> str:
        def share(value: float | None) -> str:
            return "?" if value is None else f"{value:.0%}"

        return f"{share(self.server)} / {share(self.load)}"


def _cpu_times() -> list[int] | None:
    try:
        return [
            int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        ]
    except (OSError, ValueError):
        return None


def _own_cpu_seconds() -> float:
    """This process's CPU time and that of its children already waited for (the servers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Machine:
    """What the machine did during the run besides the benchmark: other processes (on a
    shared machine they skew every figure) and time stolen by the hypervisor."""

    def __init__(self) -> None:
        self._start = _cpu_times()
        self._own = _own_cpu_seconds()

    def text(self) -> str:
        """Call once every server process has been waited for."""
        end = _cpu_times()
        if self._start is None or end is None or len(end) < 8:
            return "machine CPU use unknown"
        delta = [after - before for before, after in zip(self._start, end, strict=True)]
        total = sum(delta[:8]) or 1
        idle, steal = delta[3] + delta[4], delta[7]
        own = (_own_cpu_seconds() - self._own) * _TICKS
        others = max(0.0, total - idle - steal - own)
        return (
            f"of the machine's CPU time, other processes used {others / total:.0%}, "
            f"the hypervisor stole {steal / total:.0%}, {idle / total:.0%} was idle"
        )
