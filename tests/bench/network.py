"""The network section: addresses and routes made by cosid, by `ip -batch` and by one `ip`
process each; drift repair latency; the cost of one more address among few and many; and the
daemon at rest.

Each comparison gets a fresh named network namespace (`ip netns add`, always deleted) holding a
veth pair, and a daemon of its own managing it (`netns` in its config, files under a private
root). The objects are IPv4 /32 addresses on the veth end (each its own primary: deleting one
takes no other with it) and /24 routes through it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cosid.resources import addresses, routes
from tests.bench.common import BENCH_DAEMON, ms, percentile, pid, progress
from tests.bench.cpu import CpuMeter
from tests.bench.netns_ip import NamedNetns, named_netns
from tests.bench.network_batch import DELETES_IN_FLIGHT, BatchTimes, Workload, measure
from tests.bench.network_scale import CHUNK, ScaleFigures, scale_figures
from tests.bench.table import Row, Section
from tests.support.daemon import Daemon, running_daemon
from tests.support.requirements import namespaces_unavailable

LINK, PEER = "vb0", "vb1"
FIRST_ADDRESS = ipaddress.IPv4Address("10.64.0.1")
FIRST_ROUTE = ipaddress.IPv4Network("10.128.0.0/24")
BATCH_SIZE = 1000
BATCH_ROUNDS = 1
BATCH_RATIO_GOAL = 1.5
"""cosid's batch Apply takes at most this many times `ip -batch` with the same lines."""
PROCESS_SPEEDUP_GOAL = 20.0
"""cosid's batch Apply is at least this many times faster than an `ip` process per line."""
REPAIR_TRIES = 100
REPAIR_P99_GOAL_MS = 100.0
FEW, MANY = 10, 10_000
GROWTH_GOAL = 1.5
"""One more address among MANY takes at most this many times as long as among FEW."""
IDLE_SECONDS = 30.0
IDLE_SHARE_GOAL = 0.01


def address(index: int) -> str:
    return f"{FIRST_ADDRESS + index}/32"


def route(index: int) -> str:
    return str(ipaddress.IPv4Network((int(FIRST_ROUTE.network_address) + 256 * index, 24)))


def address_workload(netns: NamedNetns, count: int) -> Workload:
    cidrs = [address(index) for index in range(count)]
    return Workload(
        netns,
        addresses.API,
        specs=[{"link": LINK, "address": cidr} for cidr in cidrs],
        adds=[f"addr add {cidr} dev {LINK}" for cidr in cidrs],
        deletes=[f"addr del {cidr} dev {LINK}" for cidr in cidrs],
        shown=set(cidrs),
        read=lambda: netns.ipv4_addresses(LINK),
    )


def route_workload(netns: NamedNetns, count: int) -> Workload:
    destinations = [route(index) for index in range(count)]
    return Workload(
        netns,
        routes.API,
        specs=[{"destination": destination, "link": LINK} for destination in destinations],
        adds=[f"route add {destination} dev {LINK}" for destination in destinations],
        deletes=[f"route del {destination} dev {LINK}" for destination in destinations],
        shown=set(destinations),
        read=netns.ipv4_routes,
    )


@contextmanager
def managed_netns() -> Iterator[tuple[NamedNetns, Daemon]]:
    """A fresh namespace with the veth pair, and a daemon managing it."""
    with named_netns() as netns, tempfile.TemporaryDirectory(prefix="cosid-root-") as root:
        netns.add_veth(LINK, PEER)
        settings: dict[str, Any] = {
            **BENCH_DAEMON,
            "netns": netns.name,
            "root": root,
            "limits": {"resources_per_type": 2 * MANY},  # the default is 10,000
        }
        with running_daemon(**settings) as daemon:
            yield netns, daemon


def batch_section(what: str, workload: Callable[[NamedNetns, int], Workload]) -> Section:
    progress(f"network: {BATCH_SIZE} {what}, three ways, rounds: {BATCH_ROUNDS}")
    with managed_netns() as (netns, daemon):
        meters = CpuMeter(pid(daemon)), CpuMeter(pid(daemon))
        times = asyncio.run(measure(daemon, workload(netns, BATCH_SIZE), BATCH_ROUNDS, meters))
    return Section(
        f"network: {BATCH_SIZE} {what} made three ways in a fresh network namespace "
        f"(rounds: {BATCH_ROUNDS}, median)",
        batch_rows(times, meters),
    )


def batch_rows(times: BatchTimes, meters: tuple[CpuMeter, CpuMeter]) -> list[Row]:
    delete, batch, processes = (
        statistics.median(seconds) for seconds in (times.delete, times.ip_batch, times.ip_processes)
    )
    rows = [
        Row(
            f"cosid: delete {BATCH_SIZE}, {DELETES_IN_FLIGHT} calls in flight (removes them)",
            ms(delete * 1e9),
            meters[1].text,
        ),
        Row(f"ip -batch: {BATCH_SIZE} lines, one process", ms(batch * 1e9)),
        Row(f"ip: {BATCH_SIZE} processes, one after the other", ms(processes * 1e9)),
    ]
    apply_row = f"cosid: one typed Apply of {BATCH_SIZE} specs, wait"
    ratio_row = "ratio cosid Apply/ip -batch"
    speedup_row = f"cosid Apply faster than {BATCH_SIZE} ip processes by"
    ratio_goal, speedup_goal = f"<= {BATCH_RATIO_GOAL:g}x", f">= {PROCESS_SPEEDUP_GOAL:g}x"
    if times.apply_failure is not None:
        return [
            Row(apply_row, f"failed: {times.apply_failure}", meters[0].text),
            *rows,
            Row(ratio_row, "-", goal=ratio_goal, passed=False),
            Row(speedup_row, "-", goal=speedup_goal, passed=False),
        ]
    apply = statistics.median(times.apply)
    ratio, speedup = apply / batch, processes / apply
    return [
        Row(apply_row, ms(apply * 1e9), meters[0].text),
        *rows,
        Row(ratio_row, f"{ratio:.2f}x", goal=ratio_goal, passed=ratio <= BATCH_RATIO_GOAL),
        Row(
            speedup_row,
            f"{speedup:.2f}x",
            goal=speedup_goal,
            passed=speedup >= PROCESS_SPEEDUP_GOAL,
        ),
    ]


def scale_section() -> Section:
    progress(
        f"network: {REPAIR_TRIES} drift repairs, one more address among {FEW} and {MANY:,}, "
        f"{IDLE_SECONDS:g} s idle"
    )
    with managed_netns() as (netns, daemon):
        cidrs = [address(index) for index in range(MANY + 1)]
        figures = asyncio.run(
            scale_figures(daemon, netns, LINK, cidrs, FEW, REPAIR_TRIES, IDLE_SECONDS)
        )
    return Section(
        "network: drift repair, one more address among few and many, and at rest "
        "(one daemon, a fresh network namespace)",
        scale_rows(figures),
    )


def scale_rows(figures: ScaleFigures) -> list[Row]:
    repairs = figures.repairs_ns
    p99 = percentile(repairs, 0.99)
    growth = figures.one_more_many / figures.one_more_few
    idle_share = figures.idle_cpu_seconds / figures.idle_seconds
    return [
        Row(
            f"drift repair (ip addr del to back), p50 of {len(repairs)}, {FEW} addresses",
            ms(percentile(repairs, 0.50)),
        ),
        Row(
            f"drift repair, p99 of {len(repairs)}",
            ms(p99),
            goal=f"< {REPAIR_P99_GOAL_MS:g} ms",
            passed=p99 < REPAIR_P99_GOAL_MS * 1e6,
        ),
        Row(f"one more address, Apply with wait, {FEW} present", ms(figures.one_more_few * 1e9)),
        Row(
            f"making {MANY - FEW:,} more: Applies of {CHUNK} with wait",
            ms(figures.many_seconds * 1e9),
        ),
        Row(
            f"one more address, Apply with wait, {MANY:,} present",
            ms(figures.one_more_many * 1e9),
        ),
        Row(
            f"ratio one more among {MANY:,}/among {FEW}",
            f"{growth:.2f}x",
            goal=f"<= {GROWTH_GOAL:g}x",
            passed=growth <= GROWTH_GOAL,
        ),
        Row(
            f"idle {figures.idle_seconds:.0f} s holding {MANY:,}: daemon CPU time",
            f"{figures.idle_cpu_seconds * 1e3:,.0f} ms",
            f"{idle_share:.1%} / -",
            goal=f"~0 (< {IDLE_SHARE_GOAL:.0%} of a core)",
            passed=idle_share < IDLE_SHARE_GOAL,
        ),
        Row(f"daemon RSS (VmRSS), {FEW} addresses", f"{figures.rss_few_kib / 1024:,.1f} MiB"),
        Row(f"daemon RSS (VmRSS), {MANY:,} addresses", f"{figures.rss_many_kib / 1024:,.1f} MiB"),
    ]


def network_sections() -> list[Section]:
    """Addresses, routes, then drift, scale and rest; each part in a fresh namespace with its
    own daemon. Like the namespace tests it needs root and ip(8); without them it is skipped,
    saying why."""
    unavailable = namespaces_unavailable("network", ("ip",))
    if unavailable is not None:
        progress(f"network: skipped, {unavailable}")
        return []
    return [
        batch_section(f"IPv4 addresses on a veth end ({LINK})", address_workload),
        batch_section(f"IPv4 routes through a veth end ({LINK})", route_workload),
        scale_section(),
    ]
