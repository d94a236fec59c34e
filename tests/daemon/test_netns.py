"""`cosid --netns NAME`: the daemon manages a named network namespace (made by the test with
`ip netns add`, always deleted), checked from outside with `ip netns exec NAME sysctl`."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosid.resources import sysctl
from tests.support.daemon import running_daemon_with
from tests.support.typed import typed_stub

KEY = "net.ipv4.ip_default_ttl"


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"cosid-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def in_netns(name: str, key: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", name, "sysctl", "-n", key],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()


def host_value(key: str) -> str:
    return Path("/proc/sys", key.replace(".", "/")).read_text().strip()


async def test_specs_apply_in_the_named_namespace_only(netns: str, tmp_path: Path) -> None:
    host_before = host_value(KEY)
    original = in_netns(netns, KEY)
    wanted = "77" if original != "77" else "78"
    with running_daemon_with(args=("--netns", netns), root=str(tmp_path)) as daemon:
        async with typed_stub(daemon, sysctl.API) as stub:
            await stub.apply(stub.item({"key": KEY, "value": wanted}), wait=True)
            assert in_netns(netns, KEY) == wanted
            assert host_value(KEY) == host_before
            await stub.delete(KEY)
        assert in_netns(netns, KEY) == original
        assert {"event": "network namespace", "netns": netns}.items() <= next(
            r for r in daemon.log_records() if r.get("event") == "network namespace"
        ).items()


def test_a_namespace_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cosid.daemon.main",
            "--netns",
            "cosid-no-such-netns",
            "--state-dir",
            str(tmp_path / "state"),
            "--listen",
            f"unix://{tmp_path / 's.sock'}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "network namespace 'cosid-no-such-netns' does not exist" in done.stderr
