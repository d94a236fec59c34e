"""The hostname and MOTD typed services end to end, and bad input through all three typed
services: the real daemon in --sandbox, results checked from outside (`hostname` in the
daemon's UTS namespace, files under its private root).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from cosid.resources import dns, hostname, links, modules, motd, mounts, routes, sysctl
from cosid.resources.catalog import TYPED_APIS
from cosid.resources.typed import TypedApi
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import in_daemon_namespaces, typed_stub
from tests.support.wire import field_violations, rpc_error


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=0.2) as started:
        yield started


def etc(daemon: Daemon) -> Path:
    return Path(daemon.config["state_dir"]) / "sandbox-root" / "etc"


async def test_hostname_apply_waits_for_the_kernel_and_delete_restores(daemon: Daemon) -> None:
    before = in_daemon_namespaces(daemon, "-u", "hostname")
    async with typed_stub(daemon, hostname.API) as stub:
        reply = await stub.apply(stub.item({"hostname": "Node-7", "domain": "Lab"}), wait=True)

        [applied] = reply.items
        assert applied.metadata.id == "hostname"
        assert (applied.spec.hostname, applied.spec.domain) == ("node-7", "Lab")
        assert (applied.status.hostname, applied.status.domain) == ("node-7", "Lab")
        assert applied.status.file == "node-7\n"
        assert in_daemon_namespaces(daemon, "-u", "hostname") == "node-7"
        assert (etc(daemon) / "hostname").read_text() == "node-7\n"

        await stub.delete("hostname")
    assert in_daemon_namespaces(daemon, "-u", "hostname") == before
    assert not (etc(daemon) / "hostname").exists()


async def test_motd_apply_reports_the_file_and_delete_restores(daemon: Daemon) -> None:
    file = etc(daemon) / "motd"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("the distribution's greeting\n")
    async with typed_stub(daemon, motd.API) as stub:
        reply = await stub.apply(stub.item({"text": "Welcome to node-7"}), wait=True)

        [applied] = reply.items
        assert file.read_text() == "Welcome to node-7\n"
        assert applied.status.exists
        assert applied.status.size == len("Welcome to node-7\n")
        assert applied.status.path == "/etc/motd"

        await stub.delete("motd")
    assert file.read_text() == "the distribution's greeting\n"


BAD_ITEMS: list[tuple[TypedApi, dict[str, Any], dict[str, Any], str]] = [
    (sysctl.API, {"key": "/proc/sys/net/ipv4/ip_forward", "value": "1"}, {}, "items[0].spec.key"),
    (sysctl.API, {"key": "net/ipv4/../../../etc", "value": "1"}, {}, "items[0].spec.key"),
    (sysctl.API, {"key": "net.ipv4.ip_forward", "value": "1\x002"}, {}, "items[0].spec.value"),
    (sysctl.API, {"key": "net.ipv4.ip_forward", "value": "9" * 4097}, {}, "items[0].spec.value"),
    (sysctl.API, {"key": "", "value": "1"}, {}, "items[0].spec.key"),
    (hostname.API, {"hostname": "-bad-"}, {}, "items[0].spec.hostname"),
    (hostname.API, {"hostname": "a" * 65}, {}, "items[0].spec.hostname"),
    (hostname.API, {"hostname": "ok", "domain": "no spaces"}, {}, "items[0].spec.domain"),
    (hostname.API, {"hostname": "ok"}, {"id": "other"}, "items[0].metadata.id"),
    (motd.API, {"text": "a\x00b"}, {}, "items[0].spec.text"),
    (motd.API, {"text": "x" * (64 * 1024 + 1)}, {}, "items[0].spec.text"),
    (motd.API, {"text": "hi"}, {"id": "other"}, "items[0].metadata.id"),
    (motd.API, {"text": "hi"}, {"labels": {"": "empty key"}}, "items[0].metadata.labels['']"),
    (dns.API, {"nameservers": ["not-an-ip"]}, {}, "items[0].spec.nameservers[0]"),
    (dns.API, {"nameservers": ["1.1.1.1\nnameserver 6.6.6.6"]}, {}, "items[0].spec.nameservers[0]"),
    (
        dns.API,
        {"nameservers": ["1.1.1.1"], "search": ["bad domain"]},
        {},
        "items[0].spec.search[0]",
    ),
    (modules.API, {"name": "../bonding"}, {}, "items[0].spec.name"),
    (modules.API, {"name": "x" * 56}, {}, "items[0].spec.name"),
    (modules.API, {"name": "dummy", "parameters": {"n": "1\n2"}}, {}, "items[0].spec.parameters"),
    (mounts.API, {"target": "relative/path", "fstype": "tmpfs"}, {}, "items[0].spec.target"),
    (mounts.API, {"target": "/mnt/../etc", "fstype": "tmpfs"}, {}, "items[0].spec.target"),
    (mounts.API, {"target": "/mnt/x", "fstype": "nosuchfs"}, {}, "items[0].spec.fstype"),
    (links.API, {"name": "eth0/../x", "kind": "bridge"}, {}, "items[0].spec.name"),
    (links.API, {"name": "a" * 16, "kind": "bridge"}, {}, "items[0].spec.name"),
    (links.API, {"name": "br0", "kind": "bridge", "mtu": 70000}, {}, "items[0].spec.mtu"),
    (
        links.API,
        {"name": "v", "kind": "vlan", "vlan": {"id": 4095, "parent": "eth0"}},
        {},
        "items[0].spec.vlan.id",
    ),
    (
        links.API,
        {"name": "b", "kind": "bond", "bond": {"mode": "fastest"}},
        {},
        "items[0].spec.bond.mode",
    ),
    (routes.API, {"destination": "10.0.0.1/8", "link": "eth0"}, {}, "items[0].spec.destination"),
    (routes.API, {"destination": "default", "link": "eth0"}, {}, "items[0].spec.destination"),
    (routes.API, {"destination": "::/0", "gateway": "10.0.0.1"}, {}, "items[0].spec.gateway"),
    (
        routes.API,
        {"destination": "10.0.0.0/8", "link": "eth0", "metric": 1},
        {"id": "main/10.0.0.0/8/0"},
        "items[0].metadata.id",
    ),
]


@pytest.mark.parametrize(
    ("api", "spec", "meta", "field"),
    BAD_ITEMS,
    ids=[f"{api.name}-{field}-{i}" for i, (api, _, _, field) in enumerate(BAD_ITEMS)],
)
async def test_bad_input_is_refused_naming_the_field(
    daemon: Daemon, api: TypedApi, spec: dict[str, Any], meta: dict[str, Any], field: str
) -> None:
    async with typed_stub(daemon, api) as stub:
        error = await rpc_error(stub.apply(stub.item(spec, **meta), wait=True))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in field_violations(error)
        assert await stub.list() == []


@pytest.mark.parametrize("api", TYPED_APIS, ids=lambda api: api.name)
async def test_every_typed_service_refuses_what_it_cannot_decode(
    daemon: Daemon, api: TypedApi
) -> None:
    async with grpc.aio.insecure_channel(daemon.endpoint) as channel:
        apply = channel.unary_unary(
            f"/{api.service.full_name}/Apply",
            request_serializer=lambda raw: raw,
            response_deserializer=api.apply_response_message.FromString,
        )
        error = await rpc_error(apply(b"\xff\xff\xff", timeout=5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == {"request"}


@pytest.mark.parametrize(
    ("api", "spec"),
    [(hostname.API, {"hostname": "node-8"}), (motd.API, {"text": "hello"})],
    ids=lambda value: getattr(value, "name", ""),
)
async def test_a_wrong_version_is_aborted_and_changes_nothing(
    daemon: Daemon, api: TypedApi, spec: dict[str, Any]
) -> None:
    async with typed_stub(daemon, api) as stub:
        stored = (await stub.apply(stub.item(spec), wait=True)).items[0]
        error = await rpc_error(stub.apply(stub.item(spec, version=stored.metadata.version + 1)))
        assert error.code() == grpc.StatusCode.ABORTED
        after = await stub.get(stored.metadata.id)
        assert after.metadata.version == stored.metadata.version
        await stub.delete(stored.metadata.id)


async def test_a_multi_line_text_diffs_line_by_line(daemon: Daemon) -> None:
    async with typed_stub(daemon, motd.API) as stub:
        await stub.apply(stub.item({"text": "Welcome\nto node-7\n"}), wait=True)
        reply = await stub.apply(stub.item({"text": "Welcome\nto node-8\n"}), dry_run=True)
        [change] = reply.changes
        assert change.diff.splitlines()[:2] == ["--- motd/motd (stored)", "+++ motd/motd (applied)"]
        assert "-    to node-7" in change.diff.splitlines()
        assert "+    to node-8" in change.diff.splitlines()
        await stub.delete("motd")
