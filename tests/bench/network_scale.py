"""What one more address costs among few and among many, and what the daemon costs at rest.

One daemon and namespace: FEW address specs are applied, drift repairs are timed on one of
them, then one more address is applied (with wait) and deleted, several times; MANY - FEW more
are applied, CHUNK per Apply, the one more is timed again, and the daemon is left alone
for a while holding them all: its CPU time and resident memory are read from /proc.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import Message

from cosid.resources import addresses
from tests.bench.cpu import process_cpu_seconds
from tests.bench.load import CALL_TIMEOUT
from tests.bench.netns_ip import NamedNetns
from tests.bench.network_drift import repair_latencies
from tests.support.daemon import Daemon
from tests.support.typed import TypedStub, typed_stub

ONE_MORE_TRIES = 5
CHUNK = 1000
"""Addresses per Apply when making many."""
MANY_TIMEOUT = 300.0
"""One Apply of CHUNK addresses among many may take this long."""
SETTLE_SECONDS = 2.0
"""Rest before the idle window, so work left from the batch is not counted as idle."""


@dataclass(frozen=True)
class ScaleFigures:
    repairs_ns: list[int]
    """Drift repair latencies with FEW addresses, sorted."""
    one_more_few: float
    """Median seconds of Apply (wait) of one more address among FEW."""
    many_seconds: float
    """Seconds of the Applies (wait, CHUNK at a time) taking FEW to MANY."""
    one_more_many: float
    idle_cpu_seconds: float
    idle_seconds: float
    rss_few_kib: int
    rss_many_kib: int


def rss_kib(pid: int) -> int:
    """The process's resident set (VmRSS) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS")


async def _applied(stub: TypedStub, items: Sequence[Message], wait_seconds: float) -> float:
    """Seconds of one Apply with wait of `items`, every one of which must come back present."""
    started = time.perf_counter()
    deadline = wait_seconds + CALL_TIMEOUT
    reply = await stub.apply(*items, wait=True, wait_timeout=wait_seconds, deadline=deadline)
    seconds = time.perf_counter() - started
    missing = [item.metadata.id for item in reply.items if not item.HasField("status")]
    if len(reply.items) != len(items) or missing:
        raise RuntimeError(f"Apply of {len(items)} addresses left {missing[:1]} not present")
    return seconds


async def _applied_in_chunks(stub: TypedStub, items: Sequence[Message]) -> float:
    """Seconds of Applies with wait of `items`, CHUNK at a time."""
    chunks = [items[start : start + CHUNK] for start in range(0, len(items), CHUNK)]
    return sum([await _applied(stub, chunk, MANY_TIMEOUT) for chunk in chunks])


async def _one_more(stub: TypedStub, netns: NamedNetns, link: str, cidr: str) -> float:
    """Median seconds of applying the address `cidr` on `link` (then deleting it),
    ONE_MORE_TRIES times."""
    item = stub.item({"link": link, "address": cidr})
    times = []
    for _ in range(ONE_MORE_TRIES):
        times.append(await _applied(stub, [item], CALL_TIMEOUT))
        if cidr not in netns.ipv4_addresses(link):
            raise RuntimeError(f"{cidr} is not in the kernel after its Apply")
        await stub.delete(f"{link}/{cidr}", CALL_TIMEOUT)
    return statistics.median(times)


async def scale_figures(
    daemon: Daemon,
    netns: NamedNetns,
    link: str,
    cidrs: Sequence[str],
    few: int,
    repair_tries: int,
    idle_seconds: float,
) -> ScaleFigures:
    """`cidrs`: the MANY addresses, then the one more."""
    *present, extra = cidrs
    assert daemon.process is not None
    daemon_pid = daemon.process.pid
    async with typed_stub(daemon, addresses.API) as stub:
        items = [stub.item({"link": link, "address": cidr}) for cidr in present]
        await _applied(stub, items[:few], CALL_TIMEOUT)
        repairs = await repair_latencies(netns, present[0], link, repair_tries)
        one_more_few = await _one_more(stub, netns, link, extra)
        rss_few = rss_kib(daemon_pid)
        many_seconds = await _applied_in_chunks(stub, items[few:])
        one_more_many = await _one_more(stub, netns, link, extra)
    shown = netns.ipv4_addresses(link)
    if len(shown) != len(present):
        raise RuntimeError(f"{len(shown)} addresses in the kernel, {len(present)} wanted")
    await asyncio.sleep(SETTLE_SECONDS)
    before = process_cpu_seconds(daemon_pid)
    started = time.perf_counter()
    await asyncio.sleep(idle_seconds)
    after = process_cpu_seconds(daemon_pid)
    if before is None or after is None:
        raise RuntimeError("the daemon's CPU time cannot be read from /proc")
    return ScaleFigures(
        repairs,
        one_more_few,
        many_seconds,
        one_more_many,
        idle_cpu_seconds=after - before,
        idle_seconds=time.perf_counter() - started,
        rss_few_kib=rss_few,
        rss_many_kib=rss_kib(daemon_pid),
    )
