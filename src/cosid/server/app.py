"""Assembles the gRPC server: the services, reflection and health, with the configured limits."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # stubs predate aio
from grpc_reflection.v1alpha import reflection

from cosid.api.cosi.resource import state_pb2
from cosid.api.cosi.runtime.v1alpha1 import runtime_pb2
from cosid.resources.typed import TypedApi
from cosid.runtime.runtime import Runtime
from cosid.server import rpc
from cosid.server.limits import Limits
from cosid.server.runtime_service import RuntimeService
from cosid.server.state_service import StateService
from cosid.server.typed.service import TypedService
from cosid.state.registry import Registry
from cosid.state.state import State

STATE_DESCRIPTOR = state_pb2.DESCRIPTOR.services_by_name["State"]
STATE_SERVICE = STATE_DESCRIPTOR.full_name
RUNTIME_DESCRIPTOR = runtime_pb2.DESCRIPTOR.services_by_name["RuntimeService"]


class Server:
    """A grpc.aio server with health reporting tied to its lifetime."""

    def __init__(
        self,
        state: State,
        registry: Registry,
        limits: Limits,
        typed_apis: Sequence[TypedApi] = (),
        runtime: Runtime | None = None,
    ) -> None:
        self.grpc = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limits.max_message_bytes),
                ("grpc.max_send_message_length", limits.max_message_bytes),
                ("grpc.max_concurrent_streams", 100_000),
                ("grpc.so_reuseport", 0),
            ],
        )
        rpc.add_service(self.grpc, StateService(state, registry, limits), STATE_DESCRIPTOR)
        for api in typed_apis:
            rpc.add_service(self.grpc, TypedService(state, api, limits), api.service)
        services = [STATE_SERVICE, *(api.service.full_name for api in typed_apis)]
        if runtime is not None:
            rpc.add_service(self.grpc, RuntimeService(runtime), RUNTIME_DESCRIPTOR)
            services.append(RUNTIME_DESCRIPTOR.full_name)
        self._services = tuple(services)
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable_server_reflection(
            (
                *self._services,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self.grpc,
        )

    async def start(self) -> None:
        await self.grpc.start()
        for service in ("", *self._services):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)

    async def begin_shutdown(self, grace_seconds: float) -> None:
        """Report NOT_SERVING, refuse new calls and give in-flight ones `grace_seconds`."""
        await self.health.enter_graceful_shutdown()
        await self.grpc.stop(grace_seconds)
