"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.daemon import Daemon, running_daemon


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    """A real cosid process on a real unix socket, with the test namespaces."""
    with running_daemon() as started:
        yield started
