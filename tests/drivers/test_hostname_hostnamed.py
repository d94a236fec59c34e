"""The hostnamed hostname driver against a real systemd-hostnamed on a private system bus.

hostnamed runs in UTS and mount namespaces of its own (`tests.support.dbus`): the names it sets
are its namespace's, and its /etc/hostname is on a tmpfs there. The `hostname` tool run in its
namespace and the file read through /proc/<pid>/root witness every write; the host's hostname
and /etc/hostname are checked unchanged after every test. The NIS domain name, which the
driver sets itself, is set in a fresh UTS namespace of a worker thread (`tests.drivers.uts`).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from cosid.controllers.hostname import HostnameController
from cosid.drivers.dbus import (
    BusUnavailableError,
    ServiceUnavailableError,
    ServiceUnreachableError,
    SystemBus,
)
from cosid.drivers.hostname import (
    HostnameInvalidNameError,
    HostnamePermissionError,
    HostnameState,
)
from cosid.drivers.hostname.driver import HostnameDriver
from cosid.drivers.hostname.hostnamed import HOSTNAMED, HostnamedDriver
from cosid.resources.document import to_spec
from cosid.resources.hostname import HOSTNAME_ID, SPECS, HostnameSpec
from cosid.runtime.runtime import Runtime
from cosid.state.resource import Metadata, Pointer, Resource
from cosid.state.store import Store
from tests.drivers.uts import UtsNamespace, guarded_uts
from tests.runtime.conftest import FAST, condition_of, eventually
from tests.support.dbus import (
    Hostnamed,
    PrivateBus,
    host_unchanged,
    private_bus,
    private_hostnamed,
    skip_if_unavailable,
)

HOST_HOSTNAME = socket.gethostname()
FAST_TIMEOUT = 0.5


def as_driver(driver: HostnamedDriver) -> HostnameDriver:
    """Never called: mypy checks here that the hostnamed driver implements the Protocol."""
    return driver


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PrivateBus]:
    skip_if_unavailable()
    with host_unchanged(), private_bus(tmp_path / "bus") as started:
        yield started


@pytest.fixture
def hostnamed(bus: PrivateBus, tmp_path: Path) -> Iterator[Hostnamed]:
    with private_hostnamed(bus, tmp_path / "hostnamed", hostname="before") as started:
        yield started


@pytest.fixture
def driver(bus: PrivateBus) -> HostnamedDriver:
    return HostnamedDriver(SystemBus(bus.address, timeout=5.0))


@pytest.fixture
def uts() -> Iterator[UtsNamespace]:
    with guarded_uts() as namespace:
        yield namespace


# --- names, through hostnamed ------------------------------------------------------------------


async def test_read_reports_hostnameds_names(hostnamed: Hostnamed, driver: HostnamedDriver) -> None:
    state = await driver.read()

    assert (state.hostname, state.file) == ("before", "before\n")


async def test_write_sets_the_kernels_name_and_the_file(
    hostnamed: Hostnamed, driver: HostnamedDriver
) -> None:
    await driver.write("web-01.example.com", None)

    assert hostnamed.hostname() == "web-01.example.com"
    assert hostnamed.file() == "web-01.example.com\n"
    state = await driver.read()
    assert (state.hostname, state.file) == ("web-01.example.com", "web-01.example.com\n")
    assert socket.gethostname() == HOST_HOSTNAME == "vm"


async def test_write_repairs_a_kernel_name_that_drifted_from_the_file(
    hostnamed: Hostnamed, driver: HostnamedDriver
) -> None:
    hostnamed.set_hostname("drifted")
    assert (await driver.read()).hostname == "drifted"

    await driver.write("before", None)

    assert hostnamed.hostname() == "before"
    assert hostnamed.file() == "before\n"


async def test_an_edit_of_the_file_is_read_at_once(
    hostnamed: Hostnamed, driver: HostnamedDriver
) -> None:
    hostnamed.hostname_file.write_text("edited\n")

    assert (await driver.read()).file == "edited\n"


async def test_write_file_sets_the_static_name(
    hostnamed: Hostnamed, driver: HostnamedDriver
) -> None:
    await driver.write_file("other\n")

    assert hostnamed.file() == "other\n"
    assert hostnamed.hostname() == "other"  # hostnamed's rule: the static name wins


async def test_write_file_none_removes_the_file_and_keeps_the_kernels_name(
    hostnamed: Hostnamed, driver: HostnamedDriver
) -> None:
    await driver.write("kept", None)

    await driver.write_file(None)

    assert hostnamed.file() is None
    assert hostnamed.hostname() == "kept"
    state = await driver.read()
    assert (state.hostname, state.file) == ("kept", None)


def test_write_sets_the_domain_in_the_callers_uts_namespace(
    hostnamed: Hostnamed, driver: HostnamedDriver, uts: UtsNamespace
) -> None:
    uts.run(driver.write("web-01", "corp"))

    assert uts.witness() == ("vm", "corp")  # the worker's hostname is hostnamed's business
    assert hostnamed.hostname() == "web-01"
    assert uts.run(driver.read()) == HostnameState(
        hostname="web-01", domain="corp", file="web-01\n"
    )


# --- refusals ----------------------------------------------------------------------------------


async def test_an_invalid_name_is_refused_and_nothing_changes(
    hostnamed: Hostnamed, driver: HostnamedDriver
) -> None:
    with pytest.raises(HostnameInvalidNameError) as raised:
        await driver.write("bad name", None)

    assert raised.value.reason == "InvalidName"
    assert raised.value.what == "hostname"
    assert "bad name" in str(raised.value)
    assert (hostnamed.hostname(), hostnamed.file()) == ("before", "before\n")


async def test_an_invalid_static_name_is_refused(
    hostnamed: Hostnamed, driver: HostnamedDriver
) -> None:
    with pytest.raises(HostnameInvalidNameError) as raised:
        await driver.write_file("bad_name!\n")

    assert raised.value.what == "/etc/hostname"
    assert hostnamed.file() == "before\n"


async def test_a_call_the_bus_policy_denies_is_a_permission_error(tmp_path: Path) -> None:
    skip_if_unavailable()
    denied = (
        f'send_destination="{HOSTNAMED.service}" send_interface="{HOSTNAMED.interface}" '
        'send_member="SetStaticHostname"'
    )
    with (
        host_unchanged(),
        private_bus(tmp_path / "bus", deny=[denied]) as bus,
        private_hostnamed(bus, tmp_path / "hostnamed", hostname="before") as hostnamed,
    ):
        driver = HostnamedDriver(SystemBus(bus.address))
        with pytest.raises(HostnamePermissionError) as raised:
            await driver.write_file("other\n")

        assert raised.value.reason == "PermissionDenied"
        assert "AccessDenied" in str(raised.value)
        assert hostnamed.file() == "before\n"


# --- the bus or hostnamed missing --------------------------------------------------------------


async def test_no_bus_is_bus_unavailable(tmp_path: Path) -> None:
    driver = HostnamedDriver(SystemBus(f"unix:path={tmp_path}/nothing", timeout=FAST_TIMEOUT))

    with pytest.raises(BusUnavailableError) as raised:
        await driver.read()

    assert raised.value.reason == "BusUnavailable"
    assert f"{tmp_path}/nothing" in str(raised.value)


async def test_no_hostnamed_is_service_unavailable(
    bus: PrivateBus, driver: HostnamedDriver
) -> None:
    with pytest.raises(ServiceUnavailableError) as raised:
        await driver.write("web-01", None)

    assert raised.value.reason == "ServiceUnavailable"
    assert raised.value.name == "org.freedesktop.DBus.Error.ServiceUnknown"


async def test_a_hostnamed_that_does_not_answer_times_out(
    hostnamed: Hostnamed, bus: PrivateBus
) -> None:
    driver = HostnamedDriver(SystemBus(bus.address, timeout=FAST_TIMEOUT))

    with hostnamed.stopped(), pytest.raises(ServiceUnavailableError, match="no answer within"):
        await driver.read()


# --- the start-up check ------------------------------------------------------------------------


async def test_the_check_passes_when_hostnamed_answers(
    hostnamed: Hostnamed, driver: HostnamedDriver
) -> None:
    await driver.check()


async def test_the_check_names_the_service_the_bus_and_the_cause(
    bus: PrivateBus, driver: HostnamedDriver, tmp_path: Path
) -> None:
    with pytest.raises(ServiceUnreachableError) as without_hostnamed:
        await driver.check()
    absent = f"unix:path={tmp_path}/nothing"
    with pytest.raises(ServiceUnreachableError) as without_bus:
        await HostnamedDriver(SystemBus(absent, timeout=FAST_TIMEOUT)).check()

    assert str(without_hostnamed.value).startswith(
        f"org.freedesktop.hostname1 is not reachable on the system bus ({bus.address}): "
    )
    assert "ServiceUnknown" in str(without_hostnamed.value)
    assert str(without_bus.value).startswith(
        f"org.freedesktop.hostname1 is not reachable on the system bus ({absent}): "
    )
    assert "FileNotFoundError" in str(without_bus.value)


# --- under the hostname controller -------------------------------------------------------------


@asynccontextmanager
async def running(store: Store, driver: HostnamedDriver) -> AsyncIterator[None]:
    runtime = Runtime(store, [HostnameController(driver, None)], backoff=FAST)
    runtime.start()
    try:
        yield
    finally:
        await runtime.stop()


async def reconciled(store: Store) -> tuple[bool, str]:
    """Whether the spec's condition is ready, and its reason, once a reconcile ran."""

    async def ran() -> bool:
        condition = await condition_of(store, "hostname", HOSTNAME_ID, kind=SPECS)
        return condition is not None and (condition.ready or condition.attempts > 0)

    await eventually(ran)
    condition = await condition_of(store, "hostname", HOSTNAME_ID, kind=SPECS)
    assert condition is not None
    return condition.ready, condition.reason


def hostname_spec(hostname: str) -> Resource:
    return Resource(
        Metadata(SPECS.namespace, SPECS.type, HOSTNAME_ID), to_spec(HostnameSpec(hostname=hostname))
    )


async def test_the_controller_applies_through_hostnamed_and_delete_restores(
    hostnamed: Hostnamed, driver: HostnamedDriver
) -> None:
    store = Store()
    async with running(store, driver):
        await store.create(hostname_spec("web-01"))
        assert (await reconciled(store))[0]
        assert (hostnamed.hostname(), hostnamed.file()) == ("web-01", "web-01\n")

        await store.teardown_and_destroy(Pointer(SPECS.namespace, SPECS.type, HOSTNAME_ID))

    assert (hostnamed.hostname(), hostnamed.file()) == ("before", "before\n")


async def test_the_condition_says_hostnamed_is_unavailable(
    bus: PrivateBus, driver: HostnamedDriver
) -> None:
    store = Store()
    async with running(store, driver):
        await store.create(hostname_spec("web-01"))

        assert await reconciled(store) == (False, "ServiceUnavailable")
