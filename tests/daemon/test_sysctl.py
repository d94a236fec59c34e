"""sysctl end to end: the real daemon in --sandbox, specs through the State service, the
kernel checked from outside with the real `sysctl` binary inside the daemon's network namespace.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import grpc
import pytest

from cosid.drivers.sysctl.persist import HEADER
from tests.support import specs
from tests.support.daemon import Daemon, running_daemon
from tests.support.wire import (
    connect,
    create,
    field_violations,
    list_resources,
    make_resource,
    rpc_error,
)

SPECS_NS, SPECS = "sysctl", "SysctlSpecs.sysctl.cosi.dev"
FORWARD = "net.ipv4.ip_forward"


def in_daemon_netns(daemon: Daemon, *command: str) -> str:
    assert daemon.process is not None
    return subprocess.run(
        ["nsenter", "-t", str(daemon.process.pid), "-n", *command],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()


def kernel_value(daemon: Daemon, key: str) -> str:
    return in_daemon_netns(daemon, "sysctl", "-n", key)


def host_value(key: str) -> str:
    return Path("/proc/sys", key.replace(".", "/")).read_text().strip()


async def apply(daemon: Daemon, key: str, value: str) -> None:
    await specs.apply(daemon, SPECS_NS, SPECS, key, {"key": key, "value": value})


async def delete(daemon: Daemon, key: str) -> None:
    await specs.delete(daemon, SPECS_NS, SPECS, key)


async def condition(daemon: Daemon, key: str) -> dict[str, object] | None:
    return await specs.condition(daemon, "sysctl", SPECS, key)


async def test_a_spec_is_applied_in_the_daemons_namespace_only(sandboxed: Daemon) -> None:
    host_before = host_value(FORWARD)
    original = kernel_value(sandboxed, FORWARD)
    wanted = "0" if original == "1" else "1"

    await apply(sandboxed, FORWARD, wanted)

    async def applied() -> bool:
        return kernel_value(sandboxed, FORWARD) == wanted

    await specs.until(applied)
    found = await condition(sandboxed, FORWARD)
    assert found is not None
    assert found["ready"] is True
    assert host_value(FORWARD) == host_before


async def test_drift_is_repaired_and_delete_restores_the_original(sandboxed: Daemon) -> None:
    await apply(sandboxed, "net.core.somaxconn", "1234")

    async def applied() -> bool:
        return kernel_value(sandboxed, "net.core.somaxconn") == "1234"

    await specs.until(applied)
    in_daemon_netns(sandboxed, "sysctl", "-w", "net.core.somaxconn=77")  # behind cosid's back
    await specs.until(applied)
    assert any(record.get("event") == "repaired drift" for record in sandboxed.log_records())

    await delete(sandboxed, "net.core.somaxconn")
    assert kernel_value(sandboxed, "net.core.somaxconn") == "4096"


async def test_a_host_sysctl_is_refused_in_the_sandbox_with_the_reason(sandboxed: Daemon) -> None:
    host_before = host_value("kernel.pid_max")

    await apply(sandboxed, "kernel.pid_max", "99999")

    async def failed() -> bool:
        found = await condition(sandboxed, "kernel.pid_max")
        return found is not None and found["reason"] == "NotIsolated"

    await specs.until(failed)
    found = await condition(sandboxed, "kernel.pid_max")
    assert found is not None
    assert "isolates only net.*" in str(found["message"])
    assert host_value("kernel.pid_max") == host_before


async def test_specs_are_reapplied_after_sigkill(sandboxed: Daemon) -> None:
    await apply(sandboxed, "net.ipv4.tcp_syn_retries", "3")

    async def applied() -> bool:
        return kernel_value(sandboxed, "net.ipv4.tcp_syn_retries") == "3"

    await specs.until(applied)
    assert sandboxed.stop(signal.SIGKILL) == -signal.SIGKILL
    sandboxed.start()  # a new sandbox: a fresh network namespace with the kernel's defaults

    await specs.until(applied)


async def test_persist_keeps_every_spec_in_the_sysctl_d_file_under_the_root() -> None:
    with running_daemon(sandbox=True, domains={"sysctl": {"persist": True}}) as daemon:
        conf = Path(daemon.config["state_dir"], "sandbox-root", "etc", "sysctl.d", "90-cosid.conf")
        await apply(daemon, FORWARD, "1")
        ignored = {"key": "kernel.pid_max", "value": "99999", "ignore_errors": True}
        await specs.apply(daemon, SPECS_NS, SPECS, "kernel.pid_max", ignored)
        pid_max_line = "-kernel.pid_max = 99999\n"

        async def persisted() -> bool:
            wanted = HEADER + pid_max_line + "net.ipv4.ip_forward = 1\n"
            return conf.exists() and conf.read_text() == wanted

        await specs.until(persisted)

        await delete(daemon, FORWARD)  # returns once every controller is done, the file too
        assert conf.read_text() == HEADER + pid_max_line
        await delete(daemon, "kernel.pid_max")
        assert not conf.exists()


async def test_turning_persistence_off_removes_the_file_and_frees_the_deletes() -> None:
    """Off, there is no sysctl-persist controller: at start-up the file goes, and so does the
    finalizer it left on each spec, so a delete needs only the sysctl controller."""
    with running_daemon(sandbox=True, domains={"sysctl": {"persist": True}}) as daemon:
        conf = Path(daemon.config["state_dir"], "sandbox-root", "etc", "sysctl.d", "90-cosid.conf")
        await apply(daemon, FORWARD, "1")

        async def persisted() -> bool:
            return conf.exists() and FORWARD in conf.read_text()

        await specs.until(persisted)
        assert daemon.stop() == 0
        daemon.config["domains"] = {"sysctl": {"persist": False}}
        daemon.start()
        assert not conf.exists()
        async with connect(daemon.endpoint) as stub:
            [stored] = await list_resources(stub, SPECS, ns=SPECS_NS)
            assert list(stored.metadata.finalizers) == ["sysctl"]
        await delete(daemon, FORWARD)


@pytest.mark.parametrize(
    ("spec_id", "yaml_spec", "field", "description"),
    [
        (
            "net.ipv4.ip_forward",
            "key: net/../../etc/passwd\nvalue: '1'\n",
            "resource.spec.yaml_spec.key",
            "must not have '.' or '..' components",
        ),
        (
            "net.ipv4.ip_forward",
            "key: net.ipv4.ip_forward\nvalue: '1'\nextra: 2\n",
            "resource.spec.yaml_spec.extra",
            "is not a known field",
        ),
        (
            "net.ipv4.tcp_fin_timeout",
            "key: net.ipv4.ip_forward\nvalue: '1'\n",
            "resource.metadata.id",
            "must be 'net.ipv4.ip_forward', as the spec says",
        ),
        ("net.ipv4.ip_forward", "key: [unclosed\n", "resource.spec.yaml_spec", "is not valid YAML"),
    ],
)
async def test_bad_specs_are_refused_at_the_edge_and_nothing_is_stored(
    shared_daemon: Daemon, spec_id: str, yaml_spec: str, field: str, description: str
) -> None:
    async with connect(shared_daemon.endpoint) as stub:
        error = await rpc_error(
            create(stub, make_resource(spec_id, SPECS, ns=SPECS_NS, yaml_spec=yaml_spec))
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(error) == {field: description}
        assert await list_resources(stub, SPECS, ns=SPECS_NS) == []


async def test_statuses_are_written_by_cosid_only(shared_daemon: Daemon) -> None:
    status_type = "SysctlStatuses.sysctl.cosi.dev"
    async with connect(shared_daemon.endpoint) as stub:
        error = await rpc_error(create(stub, make_resource(FORWARD, status_type, ns="runtime")))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert await list_resources(stub, status_type, ns="runtime") == []
