"""The CLI tests use the client tests' fixtures: one daemon per package, a kind per test."""

from tests.client.fixtures import kind, shared_daemon

__all__ = ["kind", "shared_daemon"]
