"""Fixtures shared by every test directory.

Most tests share one real daemon and keep out of each other's way by type: each gets its own
type name (`type_name`), so a shared daemon is as good as a fresh one for everything but
start-up, shutdown and settings. Tests that need those start their own (`daemon`, or
`running_daemon(...)`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

from tests.support.daemon import Daemon, running_daemon

_type_numbers = itertools.count()


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    """A real cosid process of this test's own, on a real unix socket."""
    with running_daemon() as started:
        yield started


@pytest.fixture(scope="session")
def shared_daemon() -> Iterator[Daemon]:
    """One real cosid process for every test that needs nothing of its own."""
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
def type_name(request: pytest.FixtureRequest) -> str:
    """A type no other test uses, named after the test (parameters included)."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")
    return f"{name}-{next(_type_numbers)}.test.cosi.dev"
