"""sysctl end to end: the real daemon in --sandbox, specs through the State service, the
kernel checked from outside with the real `sysctl` binary inside the daemon's network namespace.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.support import specs
from tests.support.daemon import Daemon

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
        return found is not None and found["reason"] == "ReconcileFailed"

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
