"""The load generator: grpc.aio clients, many concurrent calls in one event loop.

Every scenario runs in this one process (the servers run in their own), so on a small
machine the load and the server each get about a core. Every call has a deadline and every
wait a bound: a stuck daemon fails the benchmark instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import grpc

from cosid.api.cosi.resource import resource_pb2, state_pb2, state_pb2_grpc
from tests.bench.bare_server import sample_resource
from tests.bench.cpu import CpuMeter

if TYPE_CHECKING:
    from cosid.api.cosi.resource.state_pb2_grpc import StateAsyncStub

WARMUP_SECONDS = 0.5
MEASURE_SECONDS = 3.0
ROUNDS = 3
"""Compared servers are measured in this many turns each, adding up to MEASURE_SECONDS."""
CALL_TIMEOUT = 30.0
"""Deadline of every call: generous, a benchmark call should never get near it."""

SCRATCH = "scratch"
"""Open and in memory in the benchmark daemon."""
DURABLE = "default"
"""Open and durable (sqlite) in the benchmark daemon."""

SEPARATE_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
"""Channel option: a connection of its own, as a separate client process would have."""


@asynccontextmanager
async def connect(
    endpoint: str, options: list[tuple[str, int]] | None = None
) -> AsyncIterator[StateAsyncStub]:
    async with grpc.aio.insecure_channel(endpoint, options=options) as channel:
        await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT)
        yield state_pb2_grpc.StateStub(channel)


@dataclass
class Target:
    """One server's call in an interleaved comparison, and what was measured of it."""

    call: Callable[[], Awaitable[object]]
    meter: CpuMeter
    completed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.completed / self.seconds


async def interleaved_rates(
    targets: list[Target],
    concurrency: int,
    rounds: int = ROUNDS,
    warmup: float = WARMUP_SECONDS,
    duration: float = MEASURE_SECONDS,
) -> None:
    """Calls per second of each target, measured in turns: `rounds` windows each, adding up
    to `duration` per target, so that a machine slowing down or speeding up (other tenants,
    CPU frequency) weighs on every target alike instead of on whichever ran last."""
    for round_number in range(rounds):
        for target in targets:
            settle = warmup if round_number == 0 else warmup / rounds
            await _measure(target, concurrency, settle, duration / rounds)


async def _measure(target: Target, concurrency: int, warmup: float, duration: float) -> None:
    """One window: `concurrency` callers loop on the target's call; only calls completing
    inside the window after `warmup` count (the warm-up lets connections and loops settle)."""
    counting = False
    stopping = False
    completed = 0

    async def caller() -> None:
        nonlocal completed
        while not stopping:
            await target.call()
            if counting:
                completed += 1

    callers = [asyncio.create_task(caller()) for _ in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        target.meter.start()
        counting, started = True, time.perf_counter()
        await asyncio.sleep(duration)
        counting, elapsed = False, time.perf_counter() - started
        target.meter.stop()
        stopping = True
        await asyncio.wait_for(asyncio.gather(*callers), CALL_TIMEOUT)
    finally:
        for task in callers:
            task.cancel()
    target.completed += completed
    target.seconds += elapsed


# --- Get -----------------------------------------------------------------------------------------


async def prepare_get(endpoint: str) -> state_pb2.GetRequest:
    """A resource to read, created in memory: the request that reads it."""
    resource = sample_resource("read-me", namespace=SCRATCH, type="Reads.bench.cosi.dev")
    async with connect(endpoint) as stub:
        await stub.Create(state_pb2.CreateRequest(resource=resource), timeout=CALL_TIMEOUT)
    metadata = resource.metadata
    return state_pb2.GetRequest(namespace=metadata.namespace, type=metadata.type, id=metadata.id)


async def get_rates(
    endpoints: list[str], request: state_pb2.GetRequest, concurrency: int, meters: list[CpuMeter]
) -> list[float]:
    """Gets per second of each server, from `concurrency` callers sharing one channel (one
    connection) to it, the servers measured in turns (see `interleaved_rates`)."""
    async with contextlib.AsyncExitStack() as stack:
        targets = []
        for endpoint, meter in zip(endpoints, meters, strict=True):
            stub = await stack.enter_async_context(connect(endpoint))
            targets.append(
                Target(functools.partial(stub.Get, request, timeout=CALL_TIMEOUT), meter)
            )
        await interleaved_rates(targets, concurrency)
    return [target.rate for target in targets]


# --- Create --------------------------------------------------------------------------------------


async def create_rates(
    endpoints: list[str], type_name: str, concurrency: int, meters: list[CpuMeter]
) -> list[float]:
    """Creates per second of new resources in each server's durable namespace, from
    `concurrency` callers on one channel, the servers measured in turns."""
    numbers = itertools.count()

    def creator(stub: StateAsyncStub) -> Callable[[], Awaitable[object]]:
        async def create() -> None:
            resource = sample_resource(f"r-{next(numbers)}", namespace=DURABLE, type=type_name)
            await stub.Create(state_pb2.CreateRequest(resource=resource), timeout=CALL_TIMEOUT)

        return create

    async with contextlib.AsyncExitStack() as stack:
        targets = []
        for endpoint, meter in zip(endpoints, meters, strict=True):
            stub = await stack.enter_async_context(connect(endpoint))
            targets.append(Target(creator(stub), meter))
        await interleaved_rates(targets, concurrency)
    return [target.rate for target in targets]


async def create_many(
    stub: StateAsyncStub, namespace: str, type_name: str, count: int, concurrency: int = 16
) -> list[resource_pb2.Resource]:
    """`count` resources created by `concurrency` callers: what the daemon stored, by id."""
    numbers = iter(range(count))
    stored: list[resource_pb2.Resource] = []

    async def creator() -> None:
        for number in numbers:
            resource = sample_resource(f"r-{number:05d}", namespace=namespace, type=type_name)
            reply = await stub.Create(
                state_pb2.CreateRequest(resource=resource), timeout=CALL_TIMEOUT
            )
            stored.append(reply.resource)

    await asyncio.gather(*(creator() for _ in range(concurrency)))
    return sorted(stored, key=lambda resource: resource.metadata.id)


# --- List ----------------------------------------------------------------------------------------


async def fill(endpoint: str, type_name: str, count: int) -> None:
    """`count` resources of `type_name` in memory, to be listed."""
    async with connect(endpoint) as stub:
        await create_many(stub, SCRATCH, type_name, count)


async def list_seconds(
    endpoints: list[str],
    type_name: str,
    expected: int,
    meters: list[CpuMeter],
    rounds: int = 4,
) -> list[float]:
    """Seconds per full List of each server, one List each in turn for `rounds` rounds
    (after one warm-up List each); every List must return `expected` resources."""
    request = state_pb2.ListRequest(namespace=SCRATCH, type=type_name)
    async with contextlib.AsyncExitStack() as stack:
        stubs = [await stack.enter_async_context(connect(endpoint)) for endpoint in endpoints]

        async def full_list(stub: StateAsyncStub) -> float:
            started, listed = time.perf_counter(), 0
            async for _ in stub.List(request, timeout=CALL_TIMEOUT):
                listed += 1
            if listed != expected:
                raise RuntimeError(f"List returned {listed} resources, expected {expected}")
            return time.perf_counter() - started

        for stub in stubs:
            await full_list(stub)  # warm-up
        totals = [0.0 for _ in stubs]
        for _ in range(rounds):
            for index, (stub, meter) in enumerate(zip(stubs, meters, strict=True)):
                meter.start()
                totals[index] += await full_list(stub)
                meter.stop()
    return [total / rounds for total in totals]


# --- Watch fan-out -------------------------------------------------------------------------------


@dataclass
class Watcher:
    received: int = 0
    errored: str = ""
    """The ERRORED event's reason: the watcher fell behind the history and was cut off."""
    ended: str = ""
    """Why the stream ended early otherwise."""
    latencies_ns: list[int] = field(default_factory=list)
    last_step: int = -1
    out_of_order: int = 0
    """Events whose update came before one already received (the writer's order is global)."""


@dataclass
class FanoutResult:
    watchers: int
    planned_updates: int
    updates: int
    """Updates made: fewer than planned if the writer ran out of time."""
    write_seconds: float
    delivery_seconds: float
    """From the first update until every watcher had every event (or the deadline)."""
    received: int
    missing: int
    """Events some watcher never received, summed over the watchers."""
    out_of_order: int
    errored: int
    ended: int
    late: int
    """Watchers still short of events at the deadline."""
    latencies_ns: list[int]
    first_error: str

    @property
    def expected(self) -> int:
        return self.watchers * self.updates


async def watch_fanout(
    endpoint: str,
    meter: CpuMeter,
    *,
    watchers: int,
    updates: int,
    resources: int = 100,
    aggregated: bool = False,
    write_limit: float = 150.0,
    drain_limit: float = 30.0,
) -> FanoutResult:
    """`watchers` kind watches (each on its own connection) receiving `updates` Updates.

    The writer updates `resources` in-memory resources round robin, each Update waiting for
    the previous one's reply, as fast as that goes (it shares this event loop with the
    watchers), for at most `write_limit` seconds. The watchers then get `drain_limit` seconds
    to receive what is left. Latency is each event's receive time minus its resource's
    `updated` time, both read from this machine's clock.
    """
    type_name = f"Watched{'Aggregated' if aggregated else ''}.bench.cosi.dev"
    request = state_pb2.WatchRequest(
        namespace=SCRATCH,
        type=type_name,
        options=state_pb2.WatchOptions(aggregated=aggregated),
        api_version=1,
    )
    async with connect(endpoint) as stub:
        current = await create_many(stub, SCRATCH, type_name, resources)
        channels = [
            grpc.aio.insecure_channel(endpoint, options=SEPARATE_CONNECTION)
            for _ in range(watchers)
        ]
        states = [Watcher() for _ in channels]
        tasks: list[asyncio.Task[None]] = []
        try:
            streams = [
                aiter(state_pb2_grpc.StateStub(channel).Watch(request)) for channel in channels
            ]
            ready = await asyncio.wait_for(
                asyncio.gather(*(anext(stream) for stream in streams)), CALL_TIMEOUT
            )
            if any(reply.event for reply in ready):
                raise RuntimeError("a watch did not start with its empty 'ready' response")
            tasks = [
                asyncio.create_task(_receive(stream, state))
                for stream, state in zip(streams, states, strict=True)
            ]
            writer = Writer(stub, current)
            meter.start()
            started = time.perf_counter()
            await writer.run(updates, write_limit)
            write_seconds = time.perf_counter() - started
            await _drain(states, tasks, writer.made, drain_limit)
            delivery_seconds = time.perf_counter() - started
            meter.stop()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*(channel.close(None) for channel in channels))
    errors = [state.errored or state.ended for state in states if state.errored or state.ended]
    return FanoutResult(
        watchers=watchers,
        planned_updates=updates,
        updates=writer.made,
        write_seconds=write_seconds,
        delivery_seconds=delivery_seconds,
        received=sum(state.received for state in states),
        missing=sum(max(0, writer.made - state.received) for state in states),
        out_of_order=sum(state.out_of_order for state in states),
        errored=sum(1 for state in states if state.errored),
        ended=sum(1 for state in states if state.ended),
        late=sum(
            1
            for state in states
            if state.received < writer.made and not (state.ended or state.errored)
        ),
        latencies_ns=[latency for state in states for latency in state.latencies_ns],
        first_error=errors[0] if errors else "",
    )


class Writer:
    """Updates resources round robin, one Update at a time, counting those made."""

    def __init__(self, stub: StateAsyncStub, resources: list[resource_pb2.Resource]) -> None:
        self._stub = stub
        self._current = list(resources)
        self.made = 0

    async def run(self, updates: int, limit: float) -> None:
        with contextlib.suppress(TimeoutError):  # reported: `made` falls short of the plan
            await asyncio.wait_for(self._write(updates), limit)

    async def _write(self, updates: int) -> None:
        for number in range(updates):
            index = number % len(self._current)
            resource = self._current[index]
            resource.metadata.labels["step"] = str(number)
            reply = await self._stub.Update(
                state_pb2.UpdateRequest(new_resource=resource), timeout=CALL_TIMEOUT
            )
            self._current[index] = reply.resource
            self.made += 1


async def _receive(stream: AsyncIterator[state_pb2.WatchResponse], state: Watcher) -> None:
    """Count and time every event until the stream ends or the watcher is cancelled."""
    latencies = state.latencies_ns
    try:
        async for response in stream:
            now = time.time_ns()
            for event in response.event:
                if event.event_type == state_pb2.ERRORED:
                    state.errored = f"ERRORED: {event.error}"
                    return
                metadata = event.resource.metadata
                updated = metadata.updated
                latencies.append(now - (updated.seconds * 1_000_000_000 + updated.nanos))
                state.received += 1
                step = int(metadata.labels["step"])
                if step <= state.last_step:
                    state.out_of_order += 1
                state.last_step = step
        state.ended = "the stream ended"
    except grpc.aio.AioRpcError as error:
        state.ended = f"{error.code().name}: {error.details()}"


async def _drain(
    states: list[Watcher], tasks: list[asyncio.Task[None]], expected: int, limit: float
) -> None:
    """Wait until every watcher still streaming has `expected` events, or `limit` seconds."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        for task in tasks:
            if task.done():
                task.result()  # a bug in the receiver must not pass for lost events
        if all(state.received >= expected or state.ended or state.errored for state in states):
            return
        await asyncio.sleep(0.005)
