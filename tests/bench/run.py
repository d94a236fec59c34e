"""Runs every scenario and prints one table.

This process is the load generator (grpc.aio, one event loop per scenario); cosid and the bare
server each run in a process of their own. One daemon serves Get, List and Watch, each on
types of its own; Creates go to two fresh ones (sqlite synchronous=full and =normal); a
sandboxed one sets sysctls in its own network namespace; the network part gives each of its
comparisons a daemon managing a fresh named network namespace. The daemons log at their default
level ("info"), not at the tests' "debug": a log line per read would be measured too. Where two
servers are compared, they are measured in turns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc

from tests.bench import load
from tests.bench.bare_server import LIST_LENGTH
from tests.bench.common import BENCH_DAEMON, ms, percentile, pid, progress
from tests.bench.cpu import CpuMeter, Machine
from tests.bench.network import network_sections
from tests.bench.sysctl_batch import Netns, measure
from tests.bench.table import Row, Section, render
from tests.support.daemon import Daemon, running_daemon
from tests.support.requirements import namespaces_unavailable

CONCURRENCIES = (1, 16)
GET_RATIO_GOAL = 0.7
LIST_RESOURCES = LIST_LENGTH
WATCHERS = 100
WATCH_UPDATES = 10_000
LATENCY_P99_GOAL_MS = 50.0
SYSCTL_KEYS = 200
SYSCTL_ROUNDS = 3
SYSCTL_LOOP_RATIO_GOAL = 2.0
"""cosid's batch Apply takes at most this many times the direct write loop."""
SYSCTL_PROCESS_SPEEDUP_GOAL = 20.0
"""cosid's batch Apply is at least this many times faster than a sysctl process per key."""
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class BareServer:
    endpoint: str
    pid: int


@contextmanager
def bare_server() -> Iterator[BareServer]:
    """The do-nothing State server in its own process, on its own socket."""
    workdir = Path(tempfile.mkdtemp(prefix="cosid-bare-"))
    socket = workdir / "bare.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.bare_server", str(socket)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not socket.exists():
            if process.poll() is not None:
                raise RuntimeError(f"the bare server exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bare server did not start in {START_TIMEOUT}s")
            time.sleep(0.05)
        yield BareServer(f"unix://{socket}", process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def per_second(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}/s"


def get_section(cosid: Daemon, bare: BareServer) -> Section:
    request = asyncio.run(load.prepare_get(cosid.endpoint))
    rows: list[Row] = []
    for concurrency in CONCURRENCIES:
        who = "1 client, sequential" if concurrency == 1 else f"{concurrency} concurrent"
        progress(f"Get, {who}: cosid and the bare server in turns")
        cosid_cpu, bare_cpu = CpuMeter(pid(cosid)), CpuMeter(bare.pid)
        cosid_rate, bare_rate = asyncio.run(
            load.get_rates(
                [cosid.endpoint, bare.endpoint], request, concurrency, [cosid_cpu, bare_cpu]
            )
        )
        ratio = cosid_rate / bare_rate
        rows += [
            Row(f"cosid, {who}", per_second(cosid_rate, "Get"), cosid_cpu.text),
            Row(f"bare grpc.aio server, {who}", per_second(bare_rate, "Get"), bare_cpu.text),
            Row(
                f"ratio cosid/bare, {who}",
                f"{ratio:.2f}x",
                goal=f">= {GET_RATIO_GOAL}x",
                passed=ratio >= GET_RATIO_GOAL,
            ),
        ]
    title = "Unary Get over the unix socket, one connection (cosid and bare measured in turns)"
    return Section(title, rows)


def list_section(cosid: Daemon, bare: BareServer) -> Section:
    type_name = "Listed.bench.cosi.dev"
    progress(f"List: creating {LIST_RESOURCES:,} resources in memory")
    asyncio.run(load.fill(cosid.endpoint, type_name, LIST_RESOURCES))
    progress("List: cosid and the bare server in turns")
    meters = [CpuMeter(pid(cosid)), CpuMeter(bare.pid)]
    seconds = asyncio.run(
        load.list_seconds([cosid.endpoint, bare.endpoint], type_name, LIST_RESOURCES, meters)
    )
    rows: list[Row] = []
    names = ("cosid", f"bare grpc.aio server, {LIST_LENGTH:,} constant messages")
    for name, per_list, meter in zip(names, seconds, meters, strict=True):
        rows += [
            Row(f"{name}: time per full List", ms(per_list * 1e9), meter.text),
            Row(f"{name}: resources listed", per_second(LIST_RESOURCES / per_list, "resource")),
        ]
    title = f"List of {LIST_RESOURCES:,} in-memory resources (cosid and bare measured in turns)"
    return Section(title, rows)


def watch_section(cosid: Daemon, *, aggregated: bool) -> Section:
    mode = "aggregated" if aggregated else "one event per message"
    progress(f"Watch: {WATCHERS} kind watchers ({mode}), {WATCH_UPDATES:,} updates")
    meter = CpuMeter(pid(cosid))
    result = asyncio.run(
        load.watch_fanout(
            cosid.endpoint, meter, watchers=WATCHERS, updates=WATCH_UPDATES, aggregated=aggregated
        )
    )
    latencies = sorted(result.latencies_ns)
    rows = [
        Row(
            "writer pace: one Update at a time, as fast as it goes",
            per_second(result.updates / result.write_seconds, "update"),
        ),
        Row("updates made (of planned)", f"{result.updates:,} of {result.planned_updates:,}"),
        Row("events expected (watchers x updates)", f"{result.expected:,}"),
        Row("events received", f"{result.received:,}", meter.text),
        Row("events lost", f"{result.missing:,}", goal="0", passed=result.missing == 0),
        Row(
            "events out of order",
            f"{result.out_of_order:,}",
            goal="0",
            passed=not result.out_of_order,
        ),
        Row(
            "watchers cut off (ERRORED) / ended / late",
            f"{result.errored} / {result.ended} / {result.late}",
        ),
        Row(
            "delivery rate, all watchers together",
            per_second(result.received / result.delivery_seconds, "event"),
        ),
        Row("last event received after", f"{result.delivery_seconds:,.1f} s"),
    ]
    if latencies:
        p99 = percentile(latencies, 0.99)
        rows += [
            Row("latency p50", ms(percentile(latencies, 0.50))),
            Row(
                "latency p99",
                ms(p99),
                goal=f"< {LATENCY_P99_GOAL_MS:.0f} ms",
                passed=p99 < LATENCY_P99_GOAL_MS * 1e6,
            ),
            Row("latency max", ms(latencies[-1])),
        ]
    if result.first_error:
        progress(f"Watch: first watcher error: {result.first_error}")
    title = f"Watch: {WATCHERS} kind watchers (own connections), {mode}, in-memory namespace"
    return Section(title, rows)


def create_section(full: Daemon, normal: Daemon) -> Section:
    rows = []
    for concurrency in CONCURRENCIES:
        who = "1 client" if concurrency == 1 else f"{concurrency} concurrent"
        progress(f"Create, {who}: synchronous=full and =normal in turns")
        meters = [CpuMeter(pid(full)), CpuMeter(pid(normal))]
        rates = asyncio.run(
            load.create_rates(
                [full.endpoint, normal.endpoint],
                f"Created{concurrency}.bench.cosi.dev",
                concurrency,
                meters,
            )
        )
        for sync, rate, meter in zip(("full", "normal"), rates, meters, strict=True):
            rows.append(Row(f"sync={sync}, {who}", per_second(rate, "Create"), meter.text))
    title = "Create in the durable namespace: sqlite (WAL), synchronous full (default) and normal"
    return Section(title, rows)


def sysctl_section(daemon: Daemon) -> Section:
    progress(f"sysctl: {SYSCTL_KEYS} keys, three ways, {SYSCTL_ROUNDS} rounds")
    apply_cpu, delete_cpu = CpuMeter(pid(daemon)), CpuMeter(pid(daemon))
    times = asyncio.run(
        measure(daemon, Netns(pid(daemon)), SYSCTL_KEYS, SYSCTL_ROUNDS, (apply_cpu, delete_cpu))
    )
    apply, delete, loop, processes = (
        statistics.median(seconds)
        for seconds in (times.apply, times.delete, times.write_loop, times.sysctl_processes)
    )
    loop_ratio, speedup = apply / loop, processes / apply
    return Section(
        f"sysctl: {SYSCTL_KEYS} keys set three ways in the sandboxed daemon's network namespace "
        f"(median of {SYSCTL_ROUNDS} rounds)",
        [
            Row(
                f"cosid: one typed Apply of {SYSCTL_KEYS} specs, wait",
                ms(apply * 1e9),
                apply_cpu.text,
            ),
            Row(
                f"cosid: delete {SYSCTL_KEYS} one by one (restores originals)",
                ms(delete * 1e9),
                delete_cpu.text,
            ),
            Row(f"write loop: open/write/close {SYSCTL_KEYS} /proc/sys files", ms(loop * 1e9)),
            Row(f"sysctl -w: {SYSCTL_KEYS} processes, one after the other", ms(processes * 1e9)),
            Row(
                "ratio cosid Apply/write loop",
                f"{loop_ratio:.2f}x",
                goal=f"<= {SYSCTL_LOOP_RATIO_GOAL:g}x",
                passed=loop_ratio <= SYSCTL_LOOP_RATIO_GOAL,
            ),
            Row(
                "cosid Apply faster than sysctl processes by",
                f"{speedup:.2f}x",
                goal=f">= {SYSCTL_PROCESS_SPEEDUP_GOAL:g}x",
                passed=speedup >= SYSCTL_PROCESS_SPEEDUP_GOAL,
            ),
        ],
    )


def read_sections() -> list[Section]:
    """Get and List against the bare server, then Watch: one daemon."""
    with running_daemon(**BENCH_DAEMON) as cosid:
        with bare_server() as bare:
            sections = [get_section(cosid, bare), list_section(cosid, bare)]
        sections.append(watch_section(cosid, aggregated=False))
    return sections


def create_sections() -> list[Section]:
    """Creates into two daemons that differ only in sqlite's synchronous setting."""
    with (
        running_daemon(**BENCH_DAEMON) as full,
        running_daemon(**BENCH_DAEMON, state={"sync": "normal"}) as normal,
    ):
        return [create_section(full, normal)]


def sysctl_sections() -> list[Section]:
    """sysctls in a sandboxed daemon's network namespace. Like the namespace tests it needs
    root, nsenter and sysctl; without them it is skipped, saying why."""
    unavailable = namespaces_unavailable("network", ("nsenter", "sysctl"))
    if unavailable is not None:
        progress(f"sysctl: skipped, {unavailable}")
        return []
    with running_daemon(**BENCH_DAEMON, sandbox=True) as daemon:
        return [sysctl_section(daemon)]


GROUPS: dict[str, Callable[[], list[Section]]] = {
    "reads": read_sections,
    "create": create_sections,
    "sysctl": sysctl_sections,
    "network": network_sections,
}
"""The benchmark's parts, in the order they run; each starts the daemons it needs."""


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def environment(load_before: str) -> str:
    return (
        f"cosid benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, grpcio {grpc.__version__}, "
        f"load average before: {load_before}\n"
        f"Rates: {load.MEASURE_SECONDS:g} s per server after {load.WARMUP_SECONDS:g} s warm-up, "
        f"in {load.ROUNDS} turns. Load from one grpc.aio process; each server in a process of "
        "its own. CPU: share of one core."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--only",
        action="append",
        choices=GROUPS,
        help="run only this part (Get, List and Watch are 'reads'); may be repeated",
    )
    args = parser.parse_args(argv)
    started, load_before, machine = time.monotonic(), load_average(), Machine()
    sections = [
        section
        for name, run in GROUPS.items()
        if args.only is None or name in args.only
        for section in run()
    ]
    report = "\n".join(
        [
            environment(load_before),
            render(sections),
            f"Total benchmark time {time.monotonic() - started:.0f} s; {machine.text()}.",
        ]
    )
    print(report)
    if args.output is not None:
        args.output.write_text(report + "\n")
