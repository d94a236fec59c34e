"""Fixtures of the client tests (shared with tests/cli)."""

from tests.client.fixtures import kind, shared_daemon

__all__ = ["kind", "shared_daemon"]
