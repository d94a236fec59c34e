"""Many clients at once, each on its own connection: compare-and-swap holds, exactly one of
racing calls wins, and every watcher sees the same history."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

import grpc

from cosid.api.cosi.resource import state_pb2
from tests.support.daemon import Daemon
from tests.support.wire import (
    NS,
    changed,
    connect,
    create,
    destroy,
    get,
    kind_watch,
    list_resources,
    make_resource,
    update,
    watching,
)

if TYPE_CHECKING:
    from cosid.api.cosi.resource.state_pb2_grpc import StateAsyncStub

Call = Callable[[], Awaitable[object]]


@asynccontextmanager
async def many_clients(
    daemon: Daemon, n: int, type_name: str
) -> AsyncIterator[list[StateAsyncStub]]:
    """`n` stubs, each on its own (already connected) channel."""
    async with AsyncExitStack() as stack:
        stubs = [await stack.enter_async_context(connect(daemon.endpoint)) for _ in range(n)]
        await asyncio.gather(*(list_resources(stub, type_name) for stub in stubs))
        yield stubs


async def race(calls: Sequence[Call]) -> list[grpc.StatusCode]:
    """Start every call at the same moment; the status code of each."""
    go = asyncio.Event()

    async def run(call: Call) -> grpc.StatusCode:
        await go.wait()
        try:
            await call()
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    tasks = [asyncio.ensure_future(run(call)) for call in calls]
    await asyncio.sleep(0)  # every task is now waiting for `go`
    go.set()
    return list(await asyncio.gather(*tasks))


async def test_concurrent_clients_each_adding_a_finalizer_with_retries_all_land(
    shared_daemon: Daemon, stub: StateAsyncStub, type_name: str
) -> None:
    n = 24
    await create(stub, make_resource("shared", type_name, finalizers=["initial"]), owner="ctl")
    everyone_has_read = asyncio.Barrier(n)
    failures = Counter[grpc.StatusCode]()

    async def add_finalizer(client: StateAsyncStub, finalizer: str) -> None:
        first_try = True
        while True:
            current = await get(client, type_name, "shared")
            if first_try:  # the first round: everyone writes on the same version
                await everyone_has_read.wait()
                first_try = False
            with_mine = changed(current, finalizers=[*current.metadata.finalizers, finalizer])
            try:
                await update(client, with_mine, owner="ctl")
                return
            except grpc.aio.AioRpcError as error:
                failures[error.code()] += 1

    async with many_clients(shared_daemon, n, type_name) as clients:
        await asyncio.wait_for(
            asyncio.gather(*(add_finalizer(c, f"client-{i}") for i, c in enumerate(clients))),
            timeout=20,
        )

    final = await get(stub, type_name, "shared")
    assert sorted(final.metadata.finalizers) == sorted(
        ["initial", *(f"client-{i}" for i in range(n))]
    )
    assert final.metadata.finalizers[0] == "initial"
    assert final.metadata.version == str(1 + n)
    assert list(failures) == [grpc.StatusCode.FAILED_PRECONDITION]
    assert failures[grpc.StatusCode.FAILED_PRECONDITION] >= n - 1, "the first round: one winner"


async def test_parallel_destroys_of_one_resource_let_exactly_one_succeed(
    shared_daemon: Daemon, stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("doomed", type_name), owner="ctl")

    async with many_clients(shared_daemon, 10, type_name) as clients:
        codes = await race(
            [partial(destroy, client, type_name, "doomed", owner="ctl") for client in clients]
        )

    assert Counter(codes) == {grpc.StatusCode.OK: 1, grpc.StatusCode.NOT_FOUND: 9}
    assert await list_resources(stub, type_name) == []


async def test_parallel_creates_of_one_id_let_exactly_one_succeed(
    shared_daemon: Daemon, stub: StateAsyncStub, type_name: str
) -> None:
    async with many_clients(shared_daemon, 10, type_name) as clients:
        codes = await race(
            [
                partial(create, client, make_resource("one", type_name), owner=f"c{i}")
                for i, client in enumerate(clients)
            ]
        )

    assert Counter(codes) == {grpc.StatusCode.OK: 1, grpc.StatusCode.ALREADY_EXISTS: 9}
    [stored] = await list_resources(stub, type_name)
    assert stored.metadata.version == "1"
    assert stored.metadata.owner == f"c{codes.index(grpc.StatusCode.OK)}"


async def test_racing_teardown_and_destroys_end_with_one_destroy_and_not_found_for_the_rest(
    shared_daemon: Daemon, stub: StateAsyncStub, type_name: str
) -> None:
    created = await create(stub, make_resource("a", type_name, finalizers=["f"]), owner="ctl")
    request = state_pb2.TeardownAndDestroyRequest(
        namespace=NS,
        type=type_name,
        id="a",
        options=state_pb2.TeardownAndDestroyOptions(owner="ctl"),
    )

    async with many_clients(shared_daemon, 6, type_name) as clients:
        calls = [partial(client.TeardownAndDestroy, request, timeout=5) for client in clients]
        racing = asyncio.ensure_future(race(calls))
        await asyncio.sleep(0.2)
        assert not racing.done()
        torn = await get(stub, type_name, "a")
        await update(stub, changed(torn, finalizers=[]), owner="ctl")
        codes = await asyncio.wait_for(racing, 2.0)

    assert torn.metadata.phase == "tearingDown"
    assert torn.metadata.version == str(int(created.metadata.version) + 1), "torn down once"
    assert Counter(codes) == {grpc.StatusCode.OK: 1, grpc.StatusCode.NOT_FOUND: 5}
    assert await list_resources(stub, type_name) == []


async def test_concurrent_watchers_see_the_same_events_in_the_same_order(
    shared_daemon: Daemon, stub: StateAsyncStub, type_name: str
) -> None:
    writers, updates = 8, 5
    async with AsyncExitStack() as stack:
        watches = [
            await stack.enter_async_context(watching(stub, kind_watch(type_name, aggregated=agg)))
            for agg in (False, True) * 3
        ]
        async with many_clients(shared_daemon, writers, type_name) as clients:

            async def write(client: StateAsyncStub, id: str) -> None:
                current = await create(client, make_resource(id, type_name))
                for n in range(updates):
                    current = await update(client, changed(current, labels={"n": str(n)}))
                await destroy(client, type_name, id)

            await asyncio.gather(*(write(c, f"w{i}") for i, c in enumerate(clients)))

        total = writers * (updates + 2)
        seen = [await watch.events(total) for watch in watches]

    assert all(events == seen[0] for events in seen[1:])
    per_resource: dict[str, list[str]] = {}
    for event in seen[0]:
        per_resource.setdefault(event.resource.metadata.id, []).append(
            event.resource.metadata.version
        )
    expected_versions = [str(v) for v in range(1, updates + 2)] + [str(updates + 1)]
    assert per_resource == {f"w{i}": expected_versions for i in range(writers)}
    assert len({event.bookmark for event in seen[0]}) == total
