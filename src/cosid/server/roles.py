"""Who may call what: three roles, the role every RPC needs, and the check before a handler runs.

gRPC Python does not tell a handler the caller's uid, so the socket decides: each listener has
a role (its file mode and group say who can connect), and every call on it may do what that
role may. `REQUIRED_ROLES` is the one table of what each RPC needs; a call to a sensitive type
needs admin whatever the table says (`Policy.required`, the only refinement).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from cosid.api.cosi.resource import state_pb2
from cosid.api.cosi.runtime.v1alpha1 import runtime_pb2
from cosid.resources.catalog import TYPED_APIS
from cosid.resources.typed import TypedApi
from cosid.server.errors import DeniedError
from cosid.state.registry import Registry


@functools.total_ordering
class Role(enum.Enum):
    """Each role may do everything the ones before it may."""

    READER = "reader"
    """Get, List and Watch of every type that is not sensitive; health and reflection."""
    OPERATOR = "operator"
    """Also Apply and Delete of typed resources, writes through State, a runtime Refresh."""
    ADMIN = "admin"
    """Everything, sensitive types included."""

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        order = list(Role)
        return order.index(self) < order.index(other)


READER, OPERATOR, ADMIN = Role.READER, Role.OPERATOR, Role.ADMIN

STATE: Final = state_pb2.DESCRIPTOR.services_by_name["State"]
RUNTIME: Final = runtime_pb2.DESCRIPTOR.services_by_name["RuntimeService"]
HEALTH: Final = health_pb2.DESCRIPTOR.services_by_name["Health"]
REFLECTION: Final = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]

TYPED_SERVICE_ROLES: Final[Mapping[str, Role]] = {
    "Get": READER,
    "List": READER,
    "Watch": READER,
    "Apply": OPERATOR,
    "Delete": OPERATOR,
}
"""Every domain's typed service has these methods (see `cosid.resources.typed`)."""

REQUIRED_ROLES: Final[Mapping[str, Mapping[str, Role]]] = {
    STATE.full_name: {
        "Get": READER,
        "List": READER,
        "Watch": READER,
        "Create": OPERATOR,
        "Update": OPERATOR,
        "Destroy": OPERATOR,
        "Teardown": OPERATOR,
        "TeardownAndDestroy": OPERATOR,
    },
    **{api.service.full_name: TYPED_SERVICE_ROLES for api in TYPED_APIS},
    RUNTIME.full_name: {"Metrics": READER, "Refresh": OPERATOR},
    HEALTH.full_name: {"Check": READER, "List": READER, "Watch": READER},
    REFLECTION.full_name: {"ServerReflectionInfo": READER},
}
"""The role each RPC needs, by service and method: a served RPC missing here fails a test,
and is refused to every role (`Policy.required` raises KeyError at registration)."""


@dataclass(frozen=True, slots=True)
class Listener:
    """Where calls come in, and the role of everyone who can connect there."""

    address: str
    role: Role


_NAMING_A_TYPE = (
    state_pb2.GetRequest,
    state_pb2.ListRequest,
    state_pb2.WatchRequest,
    state_pb2.DestroyRequest,
    state_pb2.TeardownRequest,
    state_pb2.TeardownAndDestroyRequest,
)


def _state_request_types(request: object) -> frozenset[str]:
    """The type a cosi.resource.State request reads or writes (none when it is undecodable:
    it is refused as such once the caller may call the RPC at all)."""
    if isinstance(request, state_pb2.CreateRequest):
        return frozenset({request.resource.metadata.type})
    if isinstance(request, state_pb2.UpdateRequest):
        return frozenset({request.new_resource.metadata.type})
    if isinstance(request, _NAMING_A_TYPE):
        return frozenset({request.type})
    return frozenset()


class Policy:
    """What a call needs: the table's role, raised to admin when it touches a sensitive type
    (any type whose definition says `sensitive`, in whichever namespace it is named)."""

    def __init__(self, registry: Registry, typed_apis: Sequence[TypedApi]) -> None:
        self._sensitive = frozenset(d.type for d in registry.definitions.values() if d.sensitive)
        self._typed_types = {
            api.service.full_name: frozenset((api.specs.type, api.statuses.type))
            for api in typed_apis
        }

    def base(self, service: str, method: str) -> Role:
        """The table's entry; KeyError for an RPC it lacks (so it is never served)."""
        return REQUIRED_ROLES[service][method]

    def required(self, service: str, method: str, request: object) -> tuple[Role, str]:
        """The role a call needs, and why (the RPC, or the sensitive type it touches)."""
        base = self.base(service, method)
        if service == STATE.full_name:
            touched = _state_request_types(request)
        else:
            touched = self._typed_types.get(service, frozenset())
        sensitive = sorted(touched & self._sensitive)
        if sensitive:
            return ADMIN, f"{method} of {sensitive[0]} (a sensitive type)"
        return base, method


@dataclass(frozen=True, slots=True)
class Guard:
    """One method as served on one listener: checked before its handler runs."""

    listener: Listener
    policy: Policy
    service: str
    method: str

    def check(self, request: object) -> None:
        """Raise DeniedError (PERMISSION_DENIED) unless the listener's role is enough."""
        needed, what = self.policy.required(self.service, self.method, request)
        role = self.listener.role
        if role < needed:
            raise DeniedError(f"the caller's role is {role.value}; {what} needs {needed.value}")
