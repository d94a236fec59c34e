"""Assembles the gRPC servers: one per listener, each with every service, reflection and health,
the configured limits, and calls checked against the listener's role.

A grpc.aio server cannot tell which port a call came in on, so each listener (each role) has a
server of its own; they share the servicers, and so the store, the runtime and the health
status, which is why one `begin_shutdown` turns them all NOT_SERVING together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # stubs predate aio
from grpc_reflection.v1alpha import reflection

from cosid.resources.typed import Admission, TypedApi
from cosid.runtime.runtime import Runtime
from cosid.server import rpc
from cosid.server.limits import Limits
from cosid.server.quotas import CountingState, ResourceQuota, WatcherSlots
from cosid.server.roles import HEALTH, REFLECTION, RUNTIME, STATE, Listener, Policy
from cosid.server.runtime_service import RuntimeService
from cosid.server.state_service import StateService
from cosid.server.typed.service import TypedService
from cosid.state.registry import Registry

UNGUARDED_SERVICES = (HEALTH, REFLECTION)
"""Served by grpc's own servicers, which no role check wraps: their `REQUIRED_ROLES` entries
must let every role in (a test holds them to it)."""


class Server:
    """The servicers, served on one grpc.aio server per listener, with health reporting tied to
    their lifetime."""

    def __init__(
        self,
        state: CountingState,
        registry: Registry,
        limits: Limits,
        typed_apis: Sequence[TypedApi] = (),
        runtime: Runtime | None = None,
        admissions: Sequence[Admission[Any]] = (),
    ) -> None:
        self._limits = limits
        self._policy = Policy(registry, typed_apis)
        self._watcher_slots = WatcherSlots(limits)
        quota = ResourceQuota(state, registry, limits)
        admitted = {admission.specs: admission for admission in admissions}
        servicers: list[tuple[object, ServiceDescriptor]] = [
            (StateService(state, registry, limits, quota, admissions), STATE),
            *(
                (
                    TypedService(
                        state,
                        api,
                        limits,
                        quota,
                        _acting_on(api, runtime),
                        admitted.get(api.specs),
                    ),
                    api.service,
                )
                for api in typed_apis
            ),
        ]
        if runtime is not None:
            servicers.append((RuntimeService(runtime), RUNTIME))
        self._servicers = tuple(servicers)
        self.services = (*(service for _, service in servicers), *UNGUARDED_SERVICES)
        """Every service each listener's server serves."""
        for service in self.services:  # an RPC without a role in the table is never served
            for method in service.methods:
                self._policy.base(service.full_name, method.name)
        self.health = health_aio.HealthServicer()
        self.servers: dict[Listener, grpc.aio.Server] = {}

    def serve_on(self, listener: Listener, *, by_certificate: bool = False) -> grpc.aio.Server:
        """A server for one listener (to bind its address to): every service, every call
        checked against the listener's role before its handler runs; `by_certificate`
        (TCP): against the role of the caller's client certificate, at most the listener's."""
        interceptor = rpc.CertificateInterceptor if by_certificate else rpc.ListenerInterceptor
        server = grpc.aio.server(
            interceptors=[interceptor(listener, self._policy, self._watcher_slots)],
            options=[
                ("grpc.max_receive_message_length", self._limits.max_message_bytes),
                ("grpc.max_send_message_length", self._limits.max_message_bytes),
                ("grpc.max_concurrent_streams", 100_000),
                ("grpc.so_reuseport", 0),
            ],
        )
        for servicer, service in self._servicers:
            rpc.add_service(server, servicer, service)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection([s.full_name for s in self.services], server)
        self.servers[listener] = server
        return server

    async def start(self) -> None:
        for server in self.servers.values():
            await server.start()
        for name in ("", *(service.full_name for _, service in self._servicers)):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def begin_shutdown(self, grace_seconds: float) -> None:
        """Report NOT_SERVING, refuse new calls and give in-flight ones `grace_seconds`."""
        await self.health.enter_graceful_shutdown()
        await asyncio.gather(*(server.stop(grace_seconds) for server in self.servers.values()))


def _acting_on(api: TypedApi, runtime: Runtime | None) -> tuple[str, ...]:
    """The controllers whose conditions say whether a spec of `api` is done: the domain's own
    first, then any other acting on its specs (sysctl-persist beside sysctl)."""
    others = () if runtime is None else runtime.controllers_of(api.specs)
    return (api.controller, *(name for name in others if name != api.controller))
