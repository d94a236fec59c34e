"""Fixtures of the wire-level suite: one real daemon shared by the tests that need no other.

Tests keep out of each other's way by type: each gets its own type name (`type_name`), so a
shared daemon is as good as a fresh one for everything but start-up, shutdown and settings.
Tests that need those start their own daemon (`daemon`, or `running_daemon(...)`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import grpc
import pytest

from cosid.api.cosi.resource import state_pb2_grpc
from tests.support.daemon import Daemon, running_daemon

if TYPE_CHECKING:
    from cosid.api.cosi.resource.state_pb2_grpc import StateAsyncStub

_type_numbers = itertools.count()


@pytest.fixture(scope="session")
def shared_daemon() -> Iterator[Daemon]:
    with running_daemon() as started:
        yield started


@pytest.fixture(autouse=True)
def _shared_daemon_survives(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test sent, the shared daemon must still be running afterwards."""
    yield
    if "shared_daemon" in request.fixturenames:
        daemon: Daemon = request.getfixturevalue("shared_daemon")
        assert daemon.process is not None
        assert daemon.process.poll() is None, f"the daemon died:\n{daemon.output()[-4000:]}"


@pytest.fixture
async def channel(shared_daemon: Daemon) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to the shared daemon, for raw calls that no stub would make."""
    async with grpc.aio.insecure_channel(shared_daemon.endpoint) as opened:
        yield opened


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> StateAsyncStub:
    return state_pb2_grpc.StateStub(channel)


@pytest.fixture
def type_name(request: pytest.FixtureRequest) -> str:
    """A type no other test uses, named after the test (parameters included)."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")
    return f"{name}-{next(_type_numbers)}.test.cosi.dev"
