"""Fixtures of the wire-level suite: raw channels and stubs to the shared daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import grpc
import pytest

from cosid.api.cosi.resource import state_pb2_grpc
from tests.support.daemon import Daemon, running_daemon

if TYPE_CHECKING:
    from cosid.api.cosi.resource.state_pb2_grpc import StateAsyncStub


@pytest.fixture
async def channel(shared_daemon: Daemon) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to the shared daemon, for raw calls that no stub would make."""
    async with grpc.aio.insecure_channel(shared_daemon.endpoint) as opened:
        yield opened


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> StateAsyncStub:
    return state_pb2_grpc.StateStub(channel)


@pytest.fixture
def sandboxed() -> Iterator[Daemon]:
    """A daemon in --sandbox (its own network, mount and UTS namespaces, a private root) that
    re-checks state every 0.2 s, so drift repairs show quickly."""
    with running_daemon(sandbox=True, resync_seconds=0.2) as started:
        yield started
