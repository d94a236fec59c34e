"""The typed services through the real grpcurl, with reflection only: what an operator types
to set a sysctl on a node by hand, and what it answers. The daemon runs in --sandbox."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.grpcurl.tool import GRPC_STATUS_EXIT_BASE, INVALID_ARGUMENT, Grpcurl
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import in_daemon_namespaces

pytestmark = pytest.mark.timeout(60)

TYPED = (
    "cosi.sysctl.v1alpha1.SysctlService",
    "cosi.hostname.v1alpha1.HostnameService",
    "cosi.motd.v1alpha1.MotdService",
)
SYSCTL = TYPED[0]


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=0.2) as started:
        yield started


def test_every_typed_service_is_listed_and_described(grpcurl_at: Grpcurl) -> None:
    services = grpcurl_at.ok("list").split()
    assert set(TYPED) <= set(services)
    for service in TYPED:
        description = grpcurl_at.ok("describe", service)
        rpcs = re.findall(r"rpc (\w+) \(", description)
        assert sorted(rpcs) == ["Apply", "Delete", "Get", "List", "Watch"], service


def test_apply_with_wait_then_get_and_delete_in_json(grpcurl_at: Grpcurl, daemon: Daemon) -> None:
    key = "net.ipv4.tcp_keepalive_probes"
    original = in_daemon_namespaces(daemon, "-n", "sysctl", "-n", key)
    request = {
        "items": [{"spec": {"key": key, "value": "5"}, "metadata": {"labels": {"by": "grpcurl"}}}],
        "options": {"wait": True, "wait_timeout": "10s"},
    }

    [reply] = grpcurl_at.call("Apply", request, service=SYSCTL)

    [item] = reply["items"]
    assert item["spec"] == {"key": key, "value": "5"}
    assert item["status"]["current"] == "5"
    assert item["condition"]["ready"] is True
    assert item["metadata"]["labels"] == {"by": "grpcurl"}
    assert reply["changes"][0]["action"] == "ACTION_CREATE"
    assert in_daemon_namespaces(daemon, "-n", "sysctl", "-n", key) == "5"

    [got] = grpcurl_at.call("Get", {"id": key}, service=SYSCTL)
    assert got["status"]["original"] == original

    grpcurl_at.call("Delete", {"id": key}, service=SYSCTL)
    assert in_daemon_namespaces(daemon, "-n", "sysctl", "-n", key) == original


def test_a_bad_key_shows_the_field_violation(grpcurl_at: Grpcurl) -> None:
    request = {"items": [{"spec": {"key": "net/../../etc/shadow", "value": "1"}}]}
    done = grpcurl_at.run(f"{SYSCTL}/Apply", flags=["-d", json.dumps(request)])

    assert done.returncode == GRPC_STATUS_EXIT_BASE + INVALID_ARGUMENT, done.stderr
    assert "items[0].spec.key: must not have '.' or '..' components" in done.stderr
