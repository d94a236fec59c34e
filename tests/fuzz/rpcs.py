"""Every RPC the daemon serves, found from the proto descriptors: what the fuzz tests call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import grpc
from google.protobuf.descriptor import Descriptor, MethodDescriptor, ServiceDescriptor

from cosid.api.cosi.resource import state_pb2
from cosid.api.cosi.runtime.v1alpha1 import runtime_pb2
from cosid.resources.catalog import TYPED_APIS

STATE: Final = state_pb2.DESCRIPTOR.services_by_name["State"]
RUNTIME: Final = runtime_pb2.DESCRIPTOR.services_by_name["RuntimeService"]

ANSWERS: Final = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
"""What any RPC may answer to anything: never UNKNOWN or INTERNAL (the daemon failed) nor
UNAVAILABLE (it is gone)."""

WAITING_METHODS: Final = frozenset({"Watch", "Apply"})
"""Methods that may wait for the system (a watch's changes, Apply's `wait`): running out of
time is an answer for them, a hang for every other one."""


@dataclass(frozen=True)
class Rpc:
    service: ServiceDescriptor
    method: MethodDescriptor

    @property
    def name(self) -> str:
        """`State.Create`, `SysctlService.Apply`: the test id."""
        return f"{self.service.name}.{self.method.name}"

    @property
    def path(self) -> str:
        return f"/{self.service.full_name}/{self.method.name}"

    @property
    def request(self) -> Descriptor:
        return self.method.input_type

    @property
    def streams(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def allowed(self) -> frozenset[grpc.StatusCode]:
        if self.method.name in WAITING_METHODS:
            return ANSWERS | {grpc.StatusCode.DEADLINE_EXCEEDED}
        return ANSWERS


def rpcs_of(service: ServiceDescriptor) -> list[Rpc]:
    return [Rpc(service, method) for method in service.methods]


SERVICES: Final = (STATE, *(api.service for api in TYPED_APIS), RUNTIME)
ALL_RPCS: Final = [rpc for service in SERVICES for rpc in rpcs_of(service)]
