"""A grpc.aio server doing nothing: the same State service; Get answers a constant and List
streams one constant message 10,000 times.

`python -m tests.bench.bare_server <socket path>` serves until SIGTERM. It is the status quo
cosid's Get and List are compared to: the cost of Python gRPC itself on the same socket and
machine.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc

from cosid.api.cosi.resource import resource_pb2, state_pb2, state_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


def sample_resource(
    id: str, *, namespace: str = "scratch", type: str = "Bench"
) -> resource_pb2.Resource:
    """What the benchmark stores and reads: a small resource with a few labels."""
    return resource_pb2.Resource(
        metadata=resource_pb2.Metadata(
            namespace=namespace,
            type=type,
            id=id,
            version="undefined",
            phase="running",
            labels={"app": "bench", "tier": "node", "zone": "a"},
        ),
        spec=resource_pb2.Spec(yaml_spec=f"id: {id}\naddress: 192.0.2.1/24\nmtu: 1500\n"),
    )


LIST_LENGTH = 10_000
"""How many (identical) messages the bare List streams."""


class BareState(state_pb2_grpc.StateServicer):
    def __init__(self) -> None:
        resource = sample_resource("constant")
        resource.metadata.version = "1"
        resource.metadata.created.FromNanoseconds(1_700_000_000_000_000_000)
        resource.metadata.updated.FromNanoseconds(1_700_000_000_000_000_000)
        self._get = state_pb2.GetResponse(resource=resource)
        self._list = state_pb2.ListResponse(resource=resource)

    async def Get(  # noqa: N802  # the RPC's name
        self, request: state_pb2.GetRequest, context: Context
    ) -> state_pb2.GetResponse:
        return self._get

    async def List(  # noqa: N802  # the RPC's name
        self, request: state_pb2.ListRequest, context: Context
    ) -> AsyncIterator[state_pb2.ListResponse]:
        for _ in range(LIST_LENGTH):
            yield self._list


async def serve(socket_path: str) -> None:
    server = grpc.aio.server()
    # The other RPCs keep the generated UNIMPLEMENTED bodies the typed stubs declare abstract.
    servicer = BareState()  # type: ignore[abstract]
    state_pb2_grpc.add_StateServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix://{socket_path}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("serving", flush=True)
    await stop.wait()
    await server.stop(0)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
