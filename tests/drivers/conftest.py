"""Fixtures of the driver tests: a fresh network namespace, and a check that the host kept its
values of every key the tests write there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.drivers.netns import NetNamespace, fresh_netns, unavailable

HOST_GUARDED_KEYS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/forwarding",
    "net/ipv6/conf/lo/disable_ipv6",
    "net/core/somaxconn",
    "net/ipv4/tcp_rmem",
    "net/ipv4/ip_local_port_range",
)
"""Keys the tests write in their namespaces; the host's values must not move."""


def _host_values() -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for key in HOST_GUARDED_KEYS:
        path = Path("/proc/sys") / key
        values[key] = path.read_text() if path.exists() else None
    return values


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    before = _host_values()
    with fresh_netns() as namespace:
        yield namespace
    assert _host_values() == before, "a test changed the host's sysctls"
