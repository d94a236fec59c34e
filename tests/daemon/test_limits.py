"""Count limits through a real daemon: resources per type and per open namespace (State Create,
typed Apply), watchers in total and per connection. Past a limit the answer is
RESOURCE_EXHAUSTED naming the limit and its value, with a google.rpc.QuotaFailure; nothing
changes, a freed slot can be taken again, and the daemon keeps serving."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.api.cosi.resource import state_pb2_grpc
from cosid.resources import sysctl
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub, status_details, typed_stub
from tests.support.wire import (
    NS,
    SCRATCH_NS,
    WatchStream,
    changed,
    create,
    destroy,
    kind_watch,
    list_resources,
    make_resource,
    rpc_error,
    update,
    watch_setup_error,
)

if TYPE_CHECKING:
    from cosid.api.cosi.resource.state_pb2_grpc import StateAsyncStub

PER_TYPE = 3
PER_NAMESPACE = 5
TOTAL_WATCHERS = 3
WATCHERS_PER_CONNECTION = 2
FREED_WITHIN = 5.0
"""A closed watch gives its slot back once the daemon sees the stream end: soon, not at once."""


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    directory = Path(tempfile.mkdtemp(prefix="cosid-limits-"))
    try:
        with running_daemon(
            sandbox=True,
            resync_seconds=None,
            listeners=[{"listen": f"unix://{directory}/reader.sock", "role": "reader"}],
            limits={
                "resources_per_type": PER_TYPE,
                "resources_per_namespace": PER_NAMESPACE,
                "watchers_total": TOTAL_WATCHERS,
                "watchers_per_connection": WATCHERS_PER_CONNECTION,
            },
        ) as started:
            yield started
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[StateAsyncStub]:
    async with grpc.aio.insecure_channel(daemon.endpoint) as channel:
        yield state_pb2_grpc.StateStub(channel)


def reader_endpoint(daemon: Daemon) -> str:
    return str(daemon.config["listeners"][0]["listen"])


async def assert_serving(daemon: Daemon) -> None:
    async with grpc.aio.insecure_channel(daemon.endpoint) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def quota_violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    [failure] = status_details(error, error_details_pb2.QuotaFailure)
    return [(v.subject, v.description) for v in failure.violations]


# --- Resources -----------------------------------------------------------------------------------


async def test_state_create_past_resources_per_type_is_refused(
    daemon: Daemon, stub: StateAsyncStub
) -> None:
    type = "PerTypes.test.cosi.dev"
    stored = [await create(stub, make_resource(f"r{n}", type)) for n in range(PER_TYPE)]

    error = await rpc_error(create(stub, make_resource("one-too-many", type)))

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == (
        f"limits.resources_per_type ({PER_TYPE}) reached: "
        f"{NS}/{type} holds {PER_TYPE}, this call would create 1 more"
    )
    assert quota_violations(error) == [(f"{NS}/{type}", f"limits.resources_per_type is {PER_TYPE}")]
    assert [r.metadata.id for r in await list_resources(stub, type)] == ["r0", "r1", "r2"]
    updated = await update(stub, changed(stored[0], labels={"still": "writable"}))
    assert updated.metadata.version == "2", "an update creates nothing"
    await destroy(stub, type, "r0")
    await create(stub, make_resource("one-too-many", type))  # room again
    await assert_serving(daemon)


async def test_an_open_namespace_is_limited_over_all_its_types(
    daemon: Daemon, stub: StateAsyncStub
) -> None:
    for n in range(PER_NAMESPACE):
        await create(stub, make_resource(f"r{n}", f"Spread{n}s.test.cosi.dev", ns=SCRATCH_NS))

    error = await rpc_error(
        create(stub, make_resource("r", "Spread9s.test.cosi.dev", ns=SCRATCH_NS))
    )

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == (
        f"limits.resources_per_namespace ({PER_NAMESPACE}) reached: "
        f"namespace {SCRATCH_NS} holds {PER_NAMESPACE}, this call would create 1 more"
    )
    assert not await list_resources(stub, "Spread9s.test.cosi.dev", ns=SCRATCH_NS)
    await assert_serving(daemon)


SYSCTL_KEYS = (
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_retries1",
)


def sysctl_item(stub: TypedStub, key: str, value: str) -> Message:
    return stub.item({"key": key, "value": value})


async def test_a_typed_apply_past_resources_per_type_is_refused_whole(daemon: Daemon) -> None:
    async with typed_stub(daemon, sysctl.API) as stub:
        first, second, third, fourth = SYSCTL_KEYS
        await stub.apply(sysctl_item(stub, first, "31"), sysctl_item(stub, second, "5"))
        before = {item.metadata.id: item.metadata.version for item in await stub.list()}
        batch = (
            sysctl_item(stub, first, "32"),  # an update: counts for nothing
            sysctl_item(stub, third, "60"),
            sysctl_item(stub, fourth, "2"),
        )

        for dry_run in (True, False):
            error = await rpc_error(stub.apply(*batch, dry_run=dry_run))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            kind = sysctl.SPECS
            assert error.details() == (
                f"limits.resources_per_type ({PER_TYPE}) reached: "
                f"{kind} holds 2, this call would create 2 more"
            )

        assert {item.metadata.id: item.metadata.version for item in await stub.list()} == before
        await stub.apply(*batch[:2])  # within the limit: applied
        for key in (first, second, third):
            await stub.delete(key)
    await assert_serving(daemon)


# --- Watchers ------------------------------------------------------------------------------------


@asynccontextmanager
async def open_watch(endpoint: str) -> AsyncIterator[WatchStream]:
    """A kind watch on a channel of its own, ready; retried while a slot another watch just
    gave back is still held (the daemon frees it once it sees that stream end)."""
    async with AsyncExitStack() as stack:
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(endpoint))
        stub = state_pb2_grpc.StateStub(channel)
        deadline = asyncio.get_running_loop().time() + FREED_WITHIN
        while True:
            stream = WatchStream(stub.Watch(kind_watch("Watched.test.cosi.dev")))
            stack.callback(stream.close)
            try:
                await stream.ready()
                break
            except grpc.aio.AioRpcError as error:
                late = asyncio.get_running_loop().time() > deadline
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or late:
                    raise
                await asyncio.sleep(0.05)
        yield stream


async def refusal(endpoint: str) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        stub = state_pb2_grpc.StateStub(channel)
        return await watch_setup_error(stub, kind_watch("Watched.test.cosi.dev"))


async def test_watchers_are_limited_per_connection_and_in_total(daemon: Daemon) -> None:
    admin, reader = daemon.endpoint, reader_endpoint(daemon)
    async with AsyncExitStack() as watches:
        await watches.enter_async_context(open_watch(admin))
        typed = await watches.enter_async_context(typed_stub(daemon, sysctl.API))
        typed_watch = typed.stream("Watch", common_pb2.WatchRequest(bootstrap=True))
        watches.callback(typed_watch.cancel)
        first = await typed_watch.read()
        assert first.type == common_pb2.EVENT_TYPE_BOOTSTRAPPED, "a typed Watch takes a slot too"

        per_connection = await refusal(admin)
        await watches.enter_async_context(open_watch(reader))  # another socket: room left
        total = await refusal(reader)

    assert per_connection.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert per_connection.details() == (
        f"limits.watchers_per_connection ({WATCHERS_PER_CONNECTION}) reached: "
        f"no more watches from peer unix: on {admin} until one of its own ends"
    )
    assert quota_violations(per_connection) == [
        (f"{admin} unix:", f"limits.watchers_per_connection is {WATCHERS_PER_CONNECTION}")
    ]
    assert total.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert total.details() == (
        f"limits.watchers_total ({TOTAL_WATCHERS}) reached: no more watches until one ends"
    )
    await assert_serving(daemon)


async def test_a_watch_gives_its_slot_back_however_it_ends(daemon: Daemon) -> None:
    admin = daemon.endpoint
    async with open_watch(admin):  # cancelled by the client
        pass
    async with grpc.aio.insecure_channel(admin) as channel:  # past its deadline
        call = state_pb2_grpc.StateStub(channel).Watch(
            kind_watch("Watched.test.cosi.dev"), timeout=0.3
        )
        stream = WatchStream(call)
        await stream.ready()
        _, code = await stream.ended(within=FREED_WITHIN)
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    channel = grpc.aio.insecure_channel(admin)  # the client gone: its connection closed
    gone = WatchStream(state_pb2_grpc.StateStub(channel).Watch(kind_watch("Gone.test.cosi.dev")))
    await gone.ready()
    await channel.close(grace=None)

    async with AsyncExitStack() as watches:  # every slot can be taken again
        for _ in range(WATCHERS_PER_CONNECTION):
            await watches.enter_async_context(open_watch(admin))
        await watches.enter_async_context(open_watch(reader_endpoint(daemon)))
    await assert_serving(daemon)
