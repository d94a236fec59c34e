"""cosi.modules.v1alpha1 end to end: the real daemon in --sandbox, driven through its typed
service, on this machine's kernel: it has no module support, so built-in modules are loaded
already and no other module can be (the VM issue proves real loading).

In the sandbox the driver loads and unloads nothing (no namespace isolates modules); what it
reads is the host kernel's /proc and /sys.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.resources import modules
from tests.drivers.modules_fixtures import builtin_module_here
from tests.support import specs
from tests.support.daemon import Daemon, running_daemon
from tests.support.typed import TypedStub, status_details, typed_stub
from tests.support.wire import field_violations, rpc_error, status_code

pytestmark = pytest.mark.skipif(
    os.path.exists("/proc/modules"),
    reason="this kernel supports modules; these tests are for one that does not",
)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with running_daemon(sandbox=True, resync_seconds=0.2) as started:
        yield started


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[TypedStub]:
    async with typed_stub(daemon, modules.API) as opened:
        yield opened


def item(stub: TypedStub, name: str, **meta: Any) -> Message:
    parameters = meta.pop("parameters", {})
    return stub.item({"name": name, "parameters": parameters}, **meta)


async def test_a_built_in_module_converges_as_it_is(stub: TypedStub) -> None:
    name = builtin_module_here()

    reply = await stub.apply(item(stub, name), wait=True)

    [applied] = reply.items
    assert (applied.status.module, applied.status.state) == (name, "builtin")
    assert not applied.status.loaded_by_cosid
    assert not applied.status.HasField("refcount")
    assert dict(applied.status.parameters) == {
        p.name: p.read_text().removesuffix("\n")
        for p in (Path("/sys/module") / name / "parameters").iterdir()
    }
    assert (applied.condition.ready, applied.condition.reason) == (True, "Reconciled")
    assert [(c.id, c.action) for c in reply.changes] == [(name, common_pb2.ACTION_CREATE)]

    again = await stub.apply(item(stub, name), wait=True)
    assert [c.action for c in again.changes] == [common_pb2.ACTION_UNCHANGED]

    await stub.delete(name)  # built in: nothing to unload
    assert os.path.isdir(f"/sys/module/{name}")
    assert await status_code(stub.get(name)) == grpc.StatusCode.NOT_FOUND


async def test_a_module_this_kernel_cannot_load_fails_while_the_others_converge(
    stub: TypedStub,
) -> None:
    builtin = builtin_module_here()

    error = await rpc_error(
        stub.apply(
            item(stub, "dummy", parameters={"numdummies": "2"}), item(stub, builtin), wait=True
        )
    )

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    message = error.details() or ""
    for part in (
        "1 of 2 failed",
        "NoModuleSupport",
        "module dummy: the kernel has no module support",
    ):
        assert part in message
    [response] = status_details(error, modules.API.apply_response_message)
    [failed] = response.items
    assert failed.metadata.id == "dummy"
    assert (failed.condition.ready, failed.condition.reason) == (False, "NoModuleSupport")
    assert (failed.status.state, failed.status.HasField("module")) == ("absent", False)

    async def converged() -> bool:
        return bool((await stub.get(builtin)).condition.ready)

    await specs.until(converged)
    await stub.delete("dummy")  # nothing was loaded, so nothing to undo
    await stub.delete(builtin)
    assert await stub.list() == []


async def test_names_are_canonical_with_underscores(stub: TypedStub) -> None:
    reply = await stub.apply(item(stub, "rtnl-link-vlan"), dry_run=True)
    [change] = reply.changes
    assert (change.id, change.action) == ("rtnl_link_vlan", common_pb2.ACTION_CREATE)
    assert "+  name: rtnl_link_vlan" in change.diff.splitlines()
    assert await stub.list() == []


async def test_bad_names_and_parameters_are_refused_and_nothing_is_stored(
    stub: TypedStub,
) -> None:
    error = await rpc_error(
        stub.apply(
            item(stub, "dummy"),
            item(stub, "../../etc/passwd"),
            item(stub, "kernel/net/8021q/8021q.ko"),
            item(stub, "x" * 56),
            item(stub, ".."),
            item(stub, "bonding", parameters={"mode": "1\nmax_bonds=9"}),
            item(stub, "bonding2", parameters={"bad name": "1"}),
            item(stub, "bonding3", id="bonding"),
            item(stub, ""),
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == {
        "items[1].spec.name",
        "items[2].spec.name",
        "items[3].spec.name",
        "items[4].spec.name",
        "items[5].spec.parameters",
        "items[6].spec.parameters",
        "items[7].metadata.id",
        "items[8].spec.name",
    }
    details = error.details() or ""
    assert "items[1].spec.name: must not contain '/': it names a module, not a file" in details
    assert "items[3].spec.name: is 56 characters long, the limit is 55" in details
    assert await stub.list() == []
