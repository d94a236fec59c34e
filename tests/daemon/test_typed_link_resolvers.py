"""cosi.dns.v1alpha1.LinkResolverService end to end: the real daemon in --sandbox (whose DNS
driver is resolvconf: the config refuses resolved there), driven through its typed service.

Per-link DNS needs systemd-resolved, so here every spec is stored and refused with the reason
``Unsupported``, and bad input never gets stored. The spec applied through resolved is
tests/drivers/test_dns_resolved_links.py (a private resolved) and tests/vm/test_dns_resolved.py
(the guest's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from cosid.resources import link_resolvers
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub, typed_stub
from tests.support.wire import field_violations, rpc_error, status_code

SPEC: dict[str, Any] = {"link": "eth0", "servers": ["192.0.2.53"], "domains": ["~corp.example"]}


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True) as started:
        yield started


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, link_resolvers.API) as opened:
        yield opened


async def test_without_resolved_a_spec_is_stored_and_refused_as_unsupported(
    stub: TypedStub,
) -> None:
    error = await rpc_error(stub.apply(stub.item(SPEC), wait=True, wait_timeout=5))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Unsupported" in (error.details() or "")
    [stored] = await stub.list()
    assert stored.metadata.id == "eth0"
    assert list(stored.spec.domains) == ["~corp.example"]
    assert stored.condition.reason == "Unsupported"
    assert "set domains.dns.driver to resolved" in stored.condition.message

    await stub.delete("eth0")
    assert await status_code(stub.get("eth0")) == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ({"link": "eth0", "servers": ["fe80::1%eth0"]}, {"items[0].spec.servers[0]"}),
        ({"link": "eth0", "servers": ["192.0.2.1", "192.0.2.1"]}, {"items[0].spec.servers"}),
        ({"link": "eth0", "domains": ["~"]}, {"items[0].spec.domains[0]"}),
        (
            {"link": "a/b", "servers": ["x"], "domains": ["-bad"]},
            {"items[0].spec.link", "items[0].spec.servers[0]", "items[0].spec.domains[0]"},
        ),
    ],
    ids=["zone", "twice", "bare-tilde", "all"],
)
async def test_bad_input_is_refused_naming_each_field(
    stub: TypedStub, spec: dict[str, Any], fields: set[str]
) -> None:
    error = await rpc_error(stub.apply(stub.item(spec), wait=True))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == fields
    assert await stub.list() == []
