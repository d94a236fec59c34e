"""The CLI tests use the client tests' fixtures: a kind per test."""

from tests.client.fixtures import kind

__all__ = ["kind"]
