"""Fixtures of the client and CLI tests."""

from __future__ import annotations

import pytest

from cosid.state.resource import Kind


@pytest.fixture
def kind(type_name: str) -> Kind:
    """A kind of the open namespace `default` that no other test uses."""
    return Kind("default", type_name)
