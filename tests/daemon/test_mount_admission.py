"""The mount deny lists at the edge: a spec for a denied target is INVALID_ARGUMENT naming its
field, through the typed service and the State service alike, and nothing is stored.

The deny lists are the daemon's configuration (here the defaults, plus /srv denied below), so
this is the real daemon in --sandbox; the controller's own refusal (``DeniedTarget``, for a
spec stored under another configuration) is tested in tests/controllers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf.message import Message

from cosid.resources import mounts
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub, typed_stub
from tests.support.wire import (
    connect,
    create,
    field_violations,
    make_resource,
    rpc_error,
    update,
)

BELOW_PROC = "is at or below /proc, which the configuration denies (domains.mounts.deny_below)"
BELOW_SRV = "is at or below /srv, which the configuration denies (domains.mounts.deny_below)"
ROOT = "is denied by the configuration (domains.mounts.deny)"


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    deny_below = ["/proc", "/sys", "/dev", "/run/cosid", "/srv/"]
    with running_daemon(sandbox=True, domains={"mounts": {"deny_below": deny_below}}) as started:
        yield started


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, mounts.API) as opened:
        yield opened


def tmpfs(stub: TypedStub, target: str) -> Message:
    return stub.item({"target": target, "fstype": "tmpfs", "mkdir": True})


def spec_yaml(target: str) -> str:
    return yaml.safe_dump({"target": target, "fstype": "tmpfs"})


def mount_resource(target: str, **metadata: Any) -> Any:
    return make_resource(
        target,
        mounts.SPECS.type,
        ns=mounts.SPECS.namespace,
        yaml_spec=spec_yaml(target),
        **metadata,
    )


async def test_apply_refuses_denied_targets_by_field_and_stores_nothing(stub: TypedStub) -> None:
    error = await rpc_error(
        stub.apply(
            tmpfs(stub, "/mnt/fine"),
            tmpfs(stub, "/proc/fs"),
            tmpfs(stub, "/"),
            tmpfs(stub, "/srv"),
            tmpfs(stub, "/srv/www/cache"),
            tmpfs(stub, "/proc/../etc"),
            wait=True,
        )
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {
        "items[1].spec.target": BELOW_PROC,
        "items[2].spec.target": ROOT,
        "items[3].spec.target": BELOW_SRV,
        "items[4].spec.target": BELOW_SRV,
        "items[5].spec.target": "must not have '.' or '..' components",
    }
    assert await stub.list() == []


async def test_a_dry_run_refuses_a_denied_target_too(stub: TypedStub) -> None:
    error = await rpc_error(stub.apply(tmpfs(stub, "/dev/shm"), dry_run=True))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {
        "items[0].spec.target": "is at or below /dev, which the configuration denies "
        "(domains.mounts.deny_below)"
    }


async def test_near_misses_of_the_deny_lists_are_admitted(stub: TypedStub) -> None:
    """Deny lists match whole components: /srvx and /procfs are not below /srv or /proc."""
    response = await stub.apply(tmpfs(stub, "/srvx"), tmpfs(stub, "/procfs"), dry_run=True)

    assert [change.id for change in response.changes] == ["/srvx", "/procfs"]


async def test_state_create_refuses_a_denied_target_and_stores_nothing(daemon: Daemon) -> None:
    async with connect(daemon.endpoint) as state:
        error = await rpc_error(create(state, mount_resource("/sys/kernel")))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {
        "resource.spec.yaml_spec.target": "is at or below /sys, which the configuration denies "
        "(domains.mounts.deny_below)"
    }
    async with typed_stub(daemon, mounts.API) as stub:
        assert await stub.list() == []


async def test_state_update_cannot_move_a_spec_onto_a_denied_target(daemon: Daemon) -> None:
    """An update keeps its id, so the only way onto a denied target is a spec whose target is
    the id: refused by the id check; a stored spec's own target is refused as in Create."""
    async with connect(daemon.endpoint) as state:
        stored = await create(state, mount_resource("/mnt/kept"))
        moved = mount_resource("/mnt/kept", version=stored.metadata.version)
        moved.spec.yaml_spec = spec_yaml("/srv/data")
        error = await rpc_error(update(state, moved))
        denied = mount_resource("/srv/data", version=stored.metadata.version)
        denied_error = await rpc_error(update(state, denied))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {
        "new_resource.metadata.id": "must be '/srv/data', as the spec says"
    }
    assert denied_error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(denied_error) == {"new_resource.spec.yaml_spec.target": BELOW_SRV}
    async with typed_stub(daemon, mounts.API) as stub:
        await stub.delete("/mnt/kept")
