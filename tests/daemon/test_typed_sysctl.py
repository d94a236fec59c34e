"""cosi.sysctl.v1alpha1 end to end: the real daemon in --sandbox, driven through its typed
service; the kernel checked from outside with `sysctl` in the daemon's network namespace.

One daemon serves the module; each test uses keys of its own.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf.message import Message

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.api.cosi.resource import state_pb2
from cosid.resources import sysctl
from tests.support import specs
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub, in_daemon_namespaces, status_details, typed_stub
from tests.support.wire import Op, connect, field_violations, rpc_error, status_code

CREATE, UPDATE, UNCHANGED = (
    common_pb2.ACTION_CREATE,
    common_pb2.ACTION_UPDATE,
    common_pb2.ACTION_UNCHANGED,
)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=0.2) as started:
        yield started


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, sysctl.API) as opened:
        yield opened


def kernel(daemon: Daemon, key: str) -> str:
    return in_daemon_namespaces(daemon, "-n", "sysctl", "-n", key)


def set_kernel(daemon: Daemon, key: str, value: str) -> None:
    in_daemon_namespaces(daemon, "-n", "sysctl", "-q", "-w", f"{key}={value}")


def item(stub: TypedStub, key: str, value: str, **meta: Any) -> Message:
    return stub.item({"key": key, "value": value}, **meta)


async def test_apply_with_wait_returns_the_converged_status(
    daemon: Daemon, stub: TypedStub
) -> None:
    key = "net.ipv4.ip_default_ttl"
    original = kernel(daemon, key)

    reply = await stub.apply(item(stub, key, "77"), wait=True)

    [applied] = reply.items
    assert applied.status.current == "77"
    assert applied.status.original == original
    assert (applied.condition.ready, applied.condition.reason) == (True, "Reconciled")
    assert applied.condition.observed_version >= applied.metadata.version - 1
    assert [(c.id, c.action) for c in reply.changes] == [(key, CREATE)]
    assert kernel(daemon, key) == "77"

    await stub.delete(key)
    assert kernel(daemon, key) == original
    assert await status_code(stub.get(key)) == grpc.StatusCode.NOT_FOUND


async def test_applying_the_same_spec_again_changes_nothing(stub: TypedStub) -> None:
    key = "net.ipv4.tcp_keepalive_probes"
    first = await stub.apply(item(stub, key, "7"), wait=True)
    again = await stub.apply(item(stub, key, " 7\n"), wait=True)  # the same value, normalised
    assert [c.action for c in again.changes] == [UNCHANGED]
    assert again.items[0].metadata.version == first.items[0].metadata.version
    await stub.delete(key)


async def test_dry_run_shows_the_diff_and_stores_nothing(daemon: Daemon, stub: TypedStub) -> None:
    key = "net.ipv4.tcp_keepalive_intvl"
    await stub.apply(item(stub, key, "31"), wait=True)
    new_key = "net.ipv4.tcp_keepalive_time"
    before_new = kernel(daemon, new_key)

    reply = await stub.apply(
        item(stub, key, "32", labels={"tier": "web"}), item(stub, new_key, "600"), dry_run=True
    )

    update, create = reply.changes
    assert (update.id, update.action) == (key, UPDATE)
    for line in ("-  value: '31'", "+  value: '32'", "+labels:", "+  tier: web"):
        assert line in update.diff.splitlines()
    assert (create.id, create.action) == (new_key, CREATE)
    assert "+  value: '600'" in create.diff
    assert list(reply.items) == []
    assert (await stub.get(key)).spec.value == "31"
    assert await status_code(stub.get(new_key)) == grpc.StatusCode.NOT_FOUND
    assert (kernel(daemon, key), kernel(daemon, new_key)) == ("31", before_new)
    await stub.delete(key)


async def test_a_batch_with_bad_items_names_each_and_stores_nothing(stub: TypedStub) -> None:
    good = "net.ipv4.tcp_fin_timeout"
    error = await rpc_error(
        stub.apply(
            item(stub, good, "30"),
            item(stub, "net..ipv4", "1"),
            item(stub, "net.ipv4.tcp_syn_retries", "1\n2"),
            item(stub, good, "31"),
            item(stub, "../../etc/passwd", "x"),
            stub.item(),
            item(stub, "net.ipv4.tcp_retries1", "3", id="net.ipv4.tcp_retries2"),
            item(stub, "net.core.netdev_budget", "x" * 5000),
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == {
        "items[1].spec.key",
        "items[2].spec.value",
        "items[3].metadata.id",
        "items[4].spec.key",
        "items[5].spec",
        "items[6].metadata.id",
        "items[7].spec.value",
    }
    assert await stub.list() == []


async def test_a_stale_expected_version_aborts_the_whole_batch(stub: TypedStub) -> None:
    key = "net.ipv4.tcp_max_syn_backlog"
    stored = (await stub.apply(item(stub, key, "512"), wait=True)).items[0]
    other = "net.ipv4.tcp_max_orphans"

    error = await rpc_error(
        stub.apply(
            item(stub, other, "4096"),
            item(stub, key, "1024", version=stored.metadata.version + 5),
        )
    )

    assert error.code() == grpc.StatusCode.ABORTED
    assert f"expected version {stored.metadata.version + 5}" in (error.details() or "")
    assert [s.metadata.id for s in await stub.list()] == [key]
    assert (await stub.get(key)).spec.value == "512"
    current = await stub.apply(item(stub, key, "1024", version=stored.metadata.version))
    assert [c.action for c in current.changes] == [UPDATE]
    await stub.delete(key)


async def test_wait_reports_the_failure_and_the_other_items_still_converge(
    daemon: Daemon, stub: TypedStub
) -> None:
    good = "net.ipv4.tcp_retries2"
    refused = "kernel.domainname"  # not in the sandbox's network namespace: refused there

    error = await rpc_error(stub.apply(item(stub, good, "9"), item(stub, refused, "x"), wait=True))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    message = error.details() or ""
    for part in ("1 of 2 failed", "NotIsolated", refused):
        assert part in message
    [response] = status_details(error, sysctl.API.apply_response_message)
    assert [(c.id, c.action) for c in response.changes] == [(good, CREATE), (refused, CREATE)]
    [failed] = response.items
    assert failed.metadata.id == refused
    assert (failed.condition.ready, failed.condition.reason) == (False, "NotIsolated")

    async def converged() -> bool:
        return bool((await stub.get(good)).condition.ready)

    await specs.until(converged)
    assert kernel(daemon, good) == "9"
    await stub.delete(good)
    await stub.delete(refused)  # it never changed anything, so there is nothing to undo


async def test_a_failing_wait_on_a_big_batch_still_fits_the_trailers(stub: TypedStub) -> None:
    """600 refused items: the detail carries what fits (grpc clients refuse trailers past
    16 KiB with RESOURCE_EXHAUSTED, which would hide the real answer)."""
    keys = [f"kernel.cosid_missing_{number}" for number in range(600)]
    error = await rpc_error(stub.apply(*[item(stub, key, "1") for key in keys], wait=True))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "600 of 600 failed" in (error.details() or "")
    [response] = status_details(error, sysctl.API.apply_response_message)
    assert 0 < len(response.changes) < len(keys)
    assert [c.id for c in response.changes] == keys[: len(response.changes)]
    for key in keys:
        await stub.delete(key)


async def test_running_out_of_wait_time_returns_the_current_status(stub: TypedStub) -> None:
    key = "net.ipv4.tcp_synack_retries"
    error = await rpc_error(stub.apply(item(stub, key, "4"), wait=True, wait_timeout=0))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "not applied within 0 s" in (error.details() or "")
    [response] = status_details(error, sysctl.API.apply_response_message)
    assert [i.metadata.id for i in response.items] == [key]
    assert (await stub.get(key)).spec.value == "4"  # stored all the same
    await stub.delete(key)


async def test_specs_and_statuses_are_cosi_resources_too(stub: TypedStub, daemon: Daemon) -> None:
    key = "net.ipv4.tcp_orphan_retries"
    await stub.apply(item(stub, key, "2", labels={"tier": "db"}), wait=True)
    async with connect(daemon.endpoint) as state:
        spec = await state.Get(
            state_pb2.GetRequest(namespace="sysctl", type=sysctl.SYSCTL_SPEC_TYPE, id=key)
        )
        status = await state.Get(
            state_pb2.GetRequest(namespace="runtime", type=sysctl.SYSCTL_STATUS_TYPE, id=key)
        )
    assert yaml.safe_load(spec.resource.spec.yaml_spec)["value"] == "2"
    assert dict(spec.resource.metadata.labels) == {"tier": "db"}
    assert yaml.safe_load(status.resource.spec.yaml_spec)["current"] == "2"
    await stub.delete(key)


async def test_list_filters_by_labels(stub: TypedStub) -> None:
    web, db = "net.ipv4.tcp_reordering", "net.ipv4.tcp_mtu_probing"
    await stub.apply(
        item(stub, web, "3", labels={"tier": "web"}), item(stub, db, "1", labels={"tier": "db"})
    )
    query = {"terms": [{"key": "tier", "op": Op.EQUAL, "value": ["web"]}]}
    listed = await stub.list(label_query=[query])
    assert [s.metadata.id for s in listed] == [web]
    assert sorted(s.metadata.id for s in await stub.list()) == sorted([web, db])
    await stub.delete(web)
    await stub.delete(db)


async def test_watch_follows_spec_status_and_condition(daemon: Daemon, stub: TypedStub) -> None:
    key = "net.ipv4.tcp_fin_timeout"
    watch = stub.stream("Watch", common_pb2.WatchRequest(id=key, bootstrap=True))
    events = aiter(watch)

    async def next_event() -> Any:
        return await asyncio.wait_for(anext(events), 10)

    assert (await next_event()).type == common_pb2.EVENT_TYPE_BOOTSTRAPPED
    await stub.apply(item(stub, key, "40"))
    created = await next_event()
    assert created.type == common_pb2.EVENT_TYPE_CREATED
    assert created.resource.spec.value == "40"
    while not (event := await next_event()).resource.condition.ready:
        assert event.type == common_pb2.EVENT_TYPE_UPDATED
    assert event.resource.status.current == "40"

    set_kernel(daemon, key, "41")  # drift: the resync finds it, the controller repairs it
    while (event := await next_event()).resource.status.current != "40":
        pass
    await stub.delete(key)
    while (event := await next_event()).type != common_pb2.EVENT_TYPE_DESTROYED:
        pass
    watch.cancel()


async def test_delete_of_what_does_not_exist_is_not_found(stub: TypedStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.delete("net.ipv4.tcp_no_such_key")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Sysctl 'net.ipv4.tcp_no_such_key' doesn't exist" in (raised.value.details() or "")


async def test_a_restart_after_sigkill_re_applies_and_delete_still_restores() -> None:
    key = "net.ipv4.tcp_notsent_lowat"
    with running_daemon(sandbox=True, resync_seconds=0.2) as daemon:
        original = kernel(daemon, key)
        async with typed_stub(daemon, sysctl.API) as stub:
            await stub.apply(item(stub, key, "16384"), wait=True)
        daemon.stop(signal.SIGKILL)
        daemon.start()  # a new network namespace, where the value is the default again

        async with typed_stub(daemon, sysctl.API) as stub:

            async def reapplied() -> bool:
                found = await stub.get(key)
                return bool(found.condition.ready) and kernel(daemon, key) == "16384"

            await specs.until(reapplied)
            assert (await stub.get(key)).status.original == original
            await stub.delete(key)
        assert kernel(daemon, key) == original


async def test_wait_covers_every_controller_acting_on_the_spec() -> None:
    """With sysctl.d persistence on, a spec is done when the kernel has the value AND the
    file holds it: a file that cannot be written fails the wait with that controller's
    reason, although the kernel took the value."""
    key = "net.ipv4.tcp_keepalive_probes"
    persist = {"sysctl": {"persist": True}}
    with running_daemon(sandbox=True, resync_seconds=None, domains=persist) as daemon:
        etc = Path(daemon.config["state_dir"]) / "sandbox-root" / "etc"
        (etc / "sysctl.d").write_text("a file where the directory belongs\n")
        async with typed_stub(daemon, sysctl.API) as stub:
            error = await rpc_error(stub.apply(item(stub, key, "6"), wait=True))
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "sysctl-persist: " in (error.details() or "")
            assert kernel(daemon, key) == "6"

            (etc / "sysctl.d").unlink()
            await stub.apply(item(stub, key, "7"), wait=True)
            assert f"{key} = 7" in (etc / "sysctl.d" / "90-cosid.conf").read_text()
            await stub.delete(key)
