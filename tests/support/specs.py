"""Specs written through the State service, and the runtime's conditions read back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import yaml

from cosid.api.cosi.resource import state_pb2
from tests.support.daemon import Daemon
from tests.support.wire import connect, create, make_resource

CONDITIONS_NS, CONDITIONS = "runtime", "Conditions.runtime.cosi.dev"


async def apply(daemon: Daemon, ns: str, type_: str, id_: str, spec: dict[str, Any]) -> None:
    async with connect(daemon.endpoint) as stub:
        await create(stub, make_resource(id_, type_, ns=ns, yaml_spec=yaml.safe_dump(spec)))


async def delete(daemon: Daemon, ns: str, type_: str, id_: str) -> None:
    """Tear down and destroy: returns once the controllers have undone the spec."""
    async with connect(daemon.endpoint) as stub:
        request = state_pb2.TeardownAndDestroyRequest(namespace=ns, type=type_, id=id_)
        await stub.TeardownAndDestroy(request, timeout=10)


async def condition(daemon: Daemon, controller: str, type_: str, id_: str) -> dict[str, Any] | None:
    async with connect(daemon.endpoint) as stub:
        request = state_pb2.GetRequest(
            namespace=CONDITIONS_NS, type=CONDITIONS, id=f"{controller}/{type_}/{id_}"
        )
        try:
            reply = await stub.Get(request, timeout=5)
        except grpc.aio.AioRpcError:
            return None
        loaded: dict[str, Any] = yaml.safe_load(reply.resource.spec.yaml_spec)
        return loaded


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll: the kernel announces none of these changes, so checking from outside means looking."""

    async def poll() -> None:
        while not await check():  # noqa: ASYNC110 (nothing to wait on but time)
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), within)
