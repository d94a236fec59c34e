"""The role table covers every RPC the server serves, and grpc's own servicers (which no role
check wraps) are open to every role."""

from __future__ import annotations

from cosid.daemon.config import Config
from cosid.resources.catalog import TYPED_APIS
from cosid.runtime.runtime import Runtime
from cosid.server.app import UNGUARDED_SERVICES, Server
from cosid.server.limits import Limits
from cosid.server.roles import REQUIRED_ROLES, Role
from cosid.state.registry import Registry
from cosid.state.store import Store


def test_every_served_rpc_has_a_role() -> None:
    registry = Registry(ns.definition() for ns in Config().namespaces)
    store = Store(None, frozenset(), 16)
    server = Server(store, registry, Limits(), TYPED_APIS, Runtime(store, []))
    missing = [
        f"{service.full_name}/{method.name}"
        for service in server.services
        for method in service.methods
        if method.name not in REQUIRED_ROLES.get(service.full_name, {})
    ]
    assert not missing
    assert len(server.services) == len(TYPED_APIS) + 4


def test_grpc_servicers_are_open_to_every_role() -> None:
    for service in UNGUARDED_SERVICES:
        assert set(REQUIRED_ROLES[service.full_name].values()) == {min(Role)}
