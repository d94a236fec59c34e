"""Fixtures of the client and CLI tests: one real daemon per test package, tests kept apart
by type, as in tests/daemon (starting a daemon per test would dominate their run time)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from cosid.state.resource import Kind
from tests.support.daemon import Daemon, running_daemon


@pytest.fixture(scope="package")
def shared_daemon() -> Iterator[Daemon]:
    with running_daemon() as started:
        yield started


@pytest.fixture
def kind(request: pytest.FixtureRequest) -> Kind:
    """A kind of the open namespace `default` that no other test uses, named after the test."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")
    return Kind("default", f"{name}.test.cosi.dev")
