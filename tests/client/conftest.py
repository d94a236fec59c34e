"""Fixtures of the client tests (shared with tests/cli)."""

from tests.client.fixtures import kind

__all__ = ["kind"]
