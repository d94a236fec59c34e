"""The resolved DNS driver against a real systemd-resolved on a private system bus.

resolved (from the VM kit's unpacked package, never installed on the host) runs in mount and
network namespaces of its own (`tests.support.dbus`), its /etc/systemd/resolved.conf.d bound
to the drop-in directory under the test's root prefix. There is no systemd on the private
bus, so the driver's restart is the test's: stop resolved and start it again, as RestartUnit
would. ``busctl`` asks resolved what it uses (not cosid's code), and the host's
/etc/resolv.conf is checked unchanged after every test.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from cosid.controllers.dns import DnsController
from cosid.daemon.config import ConfigError, load_config
from cosid.drivers.dbus import ServiceUnavailableError, ServiceUnreachableError, SystemBus
from cosid.drivers.dns import DnsSymlinkError, DnsUnsupportedError, ResolvConf
from cosid.drivers.dns.driver import DnsDriver
from cosid.drivers.dns.resolved import DROP_IN_PATH, ResolvedDriver, drop_in
from cosid.resources.dns import (
    RESOLVER_ID,
    SPECS,
    STATUSES,
    ResolverConfig,
    ResolverSpec,
    ResolverStatus,
    file_content,
)
from cosid.resources.document import from_spec, to_spec
from cosid.runtime.runtime import Runtime
from cosid.state.resource import Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.runtime.conftest import FAST, condition_of, eventually
from tests.support.dbus import (
    PrivateBus,
    Resolved,
    private_bus,
    private_resolved,
    skip_if_unavailable,
)

SPEC = ResolverSpec(nameservers=("192.0.2.53", "2001:DB8::53"), search=("Lab.Example.com",))
EXPECTED = ResolverConfig(nameservers=("192.0.2.53", "2001:db8::53"), search=("lab.example.com",))
RESTART_SECONDS = 10.0
"""Long enough for a restart of resolved on a loaded machine."""
DROP_IN = b"""# Written by cosid: edits are undone; change cosid's resolver spec instead.
[Resolve]
DNS=
DNS=192.0.2.53 2001:db8::53
Domains=
Domains=lab.example.com
"""


def as_driver(driver: ResolvedDriver) -> DnsDriver:
    """Never called: mypy checks here that the resolved driver implements the Protocol."""
    return driver


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PrivateBus]:
    skip_if_unavailable()
    before = Path("/etc/resolv.conf").read_bytes()
    with private_bus(tmp_path / "bus") as started:
        yield started
    assert Path("/etc/resolv.conf").read_bytes() == before, "a test changed the host's DNS"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def resolved(bus: PrivateBus, tmp_path: Path, root: Path) -> Iterator[Resolved]:
    drop_ins = root / Path(DROP_IN_PATH).parent.relative_to("/")
    with private_resolved(bus, tmp_path / "resolved", drop_ins) as started:
        yield started


@pytest.fixture
def driver(bus: PrivateBus, root: Path, resolved: Resolved) -> ResolvedDriver:
    async def restart() -> None:
        await asyncio.to_thread(resolved.restart)

    return ResolvedDriver(root, SystemBus(bus.address, timeout=5.0), restart)


def drop_in_file(root: Path) -> Path:
    return root / DROP_IN_PATH.lstrip("/")


async def test_read_reports_no_drop_in_and_resolveds_empty_global_settings(
    driver: ResolvedDriver,
) -> None:
    assert await driver.read() == ResolvConf(file=None, effective=ResolverConfig())


async def test_write_gives_resolved_the_servers_and_domains(
    driver: ResolvedDriver, resolved: Resolved, root: Path
) -> None:
    content = file_content(SPEC)

    await driver.write(content)

    assert drop_in_file(root).read_bytes() == DROP_IN
    said = resolved.global_dns()
    assert "a(iiay) 2 0 2 4 192 0 2 53 0 10 16 32 1 13 184" in said
    assert 'a(isb) 1 0 "lab.example.com" false' in said
    found = await driver.read()
    assert found.effective == EXPECTED
    assert driver.holds(found, content)


async def test_a_drop_in_resolved_has_not_read_does_not_hold(
    driver: ResolvedDriver, root: Path
) -> None:
    drop_in_file(root).write_bytes(drop_in(EXPECTED))
    drop_in_file(root).chmod(0o644)

    found = await driver.read()

    assert found.file is not None
    assert found.file.content == DROP_IN
    assert found.effective == ResolverConfig()
    assert not driver.holds(found, file_content(SPEC))


async def test_restore_removes_the_drop_in_and_resolved_forgets_it(
    driver: ResolvedDriver, root: Path
) -> None:
    await driver.write(file_content(SPEC))

    await driver.restore(None, None, 0o644)

    assert not drop_in_file(root).exists()
    assert await driver.read() == ResolvConf(file=None, effective=ResolverConfig())


async def test_restore_puts_back_a_drop_in_that_was_there(
    driver: ResolvedDriver, root: Path
) -> None:
    earlier = b"[Resolve]\nDNS=198.51.100.1\n"
    await driver.write(file_content(SPEC))

    await driver.restore(None, earlier, 0o664)

    assert drop_in_file(root).read_bytes() == earlier
    assert stat.S_IMODE(drop_in_file(root).stat().st_mode) == 0o664
    assert (await driver.read()).effective == ResolverConfig(nameservers=("198.51.100.1",))


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (ResolverSpec(nameservers=("192.0.2.1",), options={"ndots": 2}), "ndots:2"),
        (ResolverSpec(nameservers=("fe80::1%eth0",)), "fe80::1%eth0"),
    ],
)
async def test_what_resolved_cannot_do_is_refused_and_nothing_written(
    driver: ResolvedDriver, root: Path, spec: ResolverSpec, named: str
) -> None:
    with pytest.raises(DnsUnsupportedError) as raised:
        await driver.write(file_content(spec))

    assert raised.value.reason == "Unsupported"
    assert named in str(raised.value)
    assert not drop_in_file(root).exists()


async def test_a_symlink_at_the_drop_in_is_refused(driver: ResolvedDriver, root: Path) -> None:
    drop_in_file(root).symlink_to("/etc/passwd")

    with pytest.raises(DnsSymlinkError):
        await driver.read()


async def test_no_resolved_is_service_unavailable(bus: PrivateBus, root: Path) -> None:
    driver = ResolvedDriver(root, SystemBus(bus.address, timeout=1.0))

    with pytest.raises(ServiceUnavailableError):
        await driver.read()
    with pytest.raises(
        ServiceUnreachableError, match=r"org\.freedesktop\.resolve1 is not reachable"
    ):
        await driver.check()


async def test_without_systemd_the_restart_is_service_unavailable(
    bus: PrivateBus, resolved: Resolved, root: Path
) -> None:
    """The default restart asks org.freedesktop.systemd1, which the private bus lacks."""
    driver = ResolvedDriver(root, SystemBus(bus.address, timeout=1.0))

    with pytest.raises(ServiceUnavailableError, match="RestartUnit"):
        await driver.write(file_content(SPEC))


# --- under the DNS controller ------------------------------------------------------------------


@asynccontextmanager
async def running(store: Store, driver: ResolvedDriver) -> AsyncIterator[None]:
    runtime = Runtime(store, [DnsController(driver, None)], backoff=FAST)
    runtime.start()
    try:
        yield
    finally:
        await runtime.stop()


async def test_the_controller_applies_reports_and_delete_restores(
    driver: ResolvedDriver, root: Path
) -> None:
    store = Store()
    async with running(store, driver):
        spec = Resource(Metadata(SPECS.namespace, SPECS.type, RESOLVER_ID), to_spec(SPEC))
        await store.create(spec)

        async def ready() -> bool:
            condition = await condition_of(store, "dns", RESOLVER_ID, kind=SPECS)
            return condition is not None and condition.ready

        await eventually(ready, within=RESTART_SECONDS)
        found = await store.get(Pointer(STATUSES.namespace, STATUSES.type, RESOLVER_ID))
        status = from_spec(ResolverStatus, found.spec)
        assert status.path == status.file == DROP_IN_PATH
        assert (status.nameservers, status.search, status.options) == (
            EXPECTED.nameservers,
            EXPECTED.search,
            (),
        )
        assert status.original_sha256 is None

        await store.teardown_and_destroy(Pointer(SPECS.namespace, SPECS.type, RESOLVER_ID))

    assert not drop_in_file(root).exists()
    assert await driver.read() == ResolvConf(file=None, effective=ResolverConfig())


# --- the daemon's configuration ----------------------------------------------------------------


def test_resolved_is_refused_in_the_sandbox() -> None:
    with pytest.raises(ConfigError, match="resolved cannot run in a sandbox"):
        load_config(None, {"sandbox": True, "domains": {"dns": {"driver": "resolved"}}})


def test_a_daemon_whose_resolved_is_unreachable_says_so_and_exits(
    bus: PrivateBus, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        f"listen: unix://{tmp_path / 's.sock'}\n"
        "domains: {dns: {driver: resolved}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "cosid.daemon.main", "--config", str(config)],
        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus.address},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 1
    assert "cosid: domains.dns.driver is resolved, but org.freedesktop.resolve1 is not " in (
        done.stderr
    )
    assert "ServiceUnknown" in done.stderr
    assert not (tmp_path / "s.sock").exists()
