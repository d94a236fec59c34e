"""What the benchmark's sections share: the daemons' settings and process ids, progress lines
and how a time is written."""

from __future__ import annotations

import sys

from tests.support.daemon import Daemon

BENCH_DAEMON = {"log_level": "info"}
"""The daemons log at their default level, not at the tests' "debug": a log line per read
would be measured too."""


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def pid(daemon: Daemon) -> int:
    assert daemon.process is not None
    return daemon.process.pid


def ms(nanoseconds: float) -> str:
    return f"{nanoseconds / 1e6:,.1f} ms"


def percentile(ordered: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
