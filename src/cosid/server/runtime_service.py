"""cosi.runtime.v1alpha1.RuntimeService: the runtime's counters, and a resync on demand."""

from __future__ import annotations

import dataclasses
from typing import Any

import grpc
from structlog.contextvars import bind_contextvars

from cosid.api.cosi.runtime.v1alpha1 import runtime_pb2
from cosid.runtime.runtime import Runtime
from cosid.server import rpc
from cosid.server.validation import Violations

Context = grpc.aio.ServicerContext[Any, Any]


class RuntimeService:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @rpc.unary(mutates=True)
    async def Refresh(
        self, request: runtime_pb2.RefreshRequest, context: Context
    ) -> runtime_pb2.RefreshResponse:
        violations = Violations()
        known = sorted(self._runtime.runs)
        for index, name in enumerate(request.controllers):
            if name not in self._runtime.runs:
                violations.add(
                    f"controllers[{index}]", f"no controller {name!r} (known: {', '.join(known)})"
                )
        violations.raise_if_any()
        refreshed = self._runtime.refresh(request.controllers)
        bind_contextvars(controllers=refreshed)
        return runtime_pb2.RefreshResponse(controllers=refreshed)

    @rpc.unary(mutates=False)
    async def Metrics(
        self, request: runtime_pb2.MetricsRequest, context: Context
    ) -> runtime_pb2.MetricsResponse:
        runs = self._runtime.runs
        return runtime_pb2.MetricsResponse(
            controllers=[
                runtime_pb2.ControllerMetrics(
                    controller=name,
                    items=runs[name].items if name in runs else 0,
                    **dataclasses.asdict(metrics),
                )
                for name, metrics in sorted(self._runtime.metrics().items())
            ]
        )
