"""The systemd mount driver on the host: its unit names against the real ``systemd-escape``,
the unit properties it builds, and its conversation with systemd's Manager, played by a
fake on a private system bus (`FakeSystemd`: the host has no systemd as PID 1).

What only a real systemd shows (mount(8) run for the unit, JobRemoved of a real job, the
unit's life, a reboot's loss of it) is proven in the VM: tests/vm/test_mounts_systemd.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cosid.daemon.config import ConfigError, load_config
from cosid.drivers.dbus import PROPERTIES_INTERFACE, ServiceUnreachableError, SystemBus
from cosid.drivers.mounts import (
    MountDeniedError,
    MountDriver,
    MountInvalidError,
    MountTargetNotFoundError,
)
from cosid.drivers.mounts.policy import TargetPolicy
from cosid.drivers.mounts.systemd import (
    UNIT_EXISTS,
    MountUnitExistsError,
    MountUnitFailedError,
    SystemdMountDriver,
    option_words,
    unit_name,
    unit_properties,
)
from cosid.drivers.systemd import MANAGER
from cosid.resources.mounts import MountOptions, MountSpec
from tests.support.dbus import PrivateBus, private_bus, skip_if_unavailable

SYSTEMD_ESCAPE = "/usr/bin/systemd-escape"
_COMPONENT = st.text(
    st.characters(
        codec="utf-8",
        exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"),
        exclude_characters="/",
        include_characters=" ",
    ),
    min_size=1,
    max_size=12,
).filter(lambda text: text not in (".", ".."))
"""A path component the model accepts: printable (spaces included), no '/'."""
_PATHS = st.lists(_COMPONENT, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts))


def as_driver(driver: SystemdMountDriver) -> MountDriver:
    """Never called: mypy checks here that the systemd driver implements the Protocol."""
    return driver


def systemd_escape(*paths: str) -> list[str]:
    """The real tool's unit names (the names it writes hold no space: it escapes them)."""
    done = subprocess.run(
        [SYSTEMD_ESCAPE, "--path", "--suffix=mount", "--", *paths],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return done.stdout.split()


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/", "-.mount"),
        ("/mnt", "mnt.mount"),
        ("/mnt/a-b", "mnt-a\\x2db.mount"),
        ("/srv/my data/.cache", "srv-my\\x20data-.cache.mount"),
        ("/.hidden", "\\x2ehidden.mount"),
        ("/a\\b", "a\\x5cb.mount"),
        ("/mnt/été", "mnt-\\xc3\\xa9t\\xc3\\xa9.mount"),
        ("/x:y_z.1", "x:y_z.1.mount"),
    ],
)
def test_unit_names(path: str, name: str) -> None:
    assert unit_name(path) == name


@pytest.mark.skipif(not Path(SYSTEMD_ESCAPE).exists(), reason="no systemd-escape here")
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(paths=st.lists(_PATHS, min_size=1, max_size=40))
@example(paths=["/", "/-", "/.a/.b", "/a-/b\\/c", "/ä/中/🙂", "/a b/c\td"])
def test_unit_names_are_systemd_escapes(paths: list[str]) -> None:
    fitting = [path for path in paths if len(path.encode()) < 60]
    if not fitting:
        return
    assert [unit_name(path) for path in fitting] == systemd_escape(*fitting)


def test_a_path_too_long_for_a_unit_name_is_refused() -> None:
    longest = "/" + "a" * 249  # "a...a.mount": 255 characters
    assert unit_name(longest) == systemd_escape(longest)[0]
    with pytest.raises(ValueError, match="its unit name would be 256 characters, over 255"):
        unit_name(longest + "a")


def test_option_words_say_every_flag_either_way() -> None:
    assert option_words(MountOptions()) == ["rw", "suid", "dev", "exec"]
    wanted = MountOptions(ro=True, nosuid=True, nodev=True, noexec=True, atime="noatime")
    assert option_words(wanted) == ["ro", "nosuid", "nodev", "noexec", "noatime"]
    assert option_words(MountOptions(bind=True, recursive=True))[-1] == "rbind"


def properties_of(spec: dict[str, Any], what: str, where: str) -> dict[str, Any]:
    built = unit_properties(MountSpec.model_validate(spec), what, where)
    return {name: variant.value for name, variant in built}


def test_properties_of_a_tmpfs() -> None:
    spec = {
        "target": "/mnt/scratch",
        "fstype": "tmpfs",
        "options": {"size": "64m", "mode": "1777", "nosuid": True, "data": {"uid": "1000"}},
    }
    assert properties_of(spec, "tmpfs", "/root/mnt/scratch") == {
        "Description": "cosid mount of /mnt/scratch",
        "What": "tmpfs",
        "Where": "/root/mnt/scratch",
        "Type": "tmpfs",
        "Options": "rw,nosuid,dev,exec,size=67108864,mode=1777,uid=1000",
        "CollectMode": "inactive-or-failed",
    }


def test_properties_of_a_bind_mount_leave_the_type_out() -> None:
    spec = {"target": "/var/www", "source": "/srv/www", "options": {"bind": True, "ro": True}}
    found = properties_of(spec, "/srv/www", "/var/www")
    assert "Type" not in found
    assert found["Options"] == "ro,suid,dev,exec,bind"


# --- Talking to systemd --------------------------------------------------------------------------


@dataclass
class FakeSystemd:
    """systemd's Manager as the driver sees it: StartTransientUnit and StopUnit queue a job,
    whose JobRemoved (with `result`) is sent before the reply, after another job's, as a busy
    systemd may; `refusal` answers with that D-Bus error instead; `result` None sends none."""

    bus: MessageBus
    result: str | None = "done"
    refusal: str | None = None
    calls: list[tuple[str, list[Any]]] = field(default_factory=list)

    def answer(self, message: Message) -> Message | None:
        if message.message_type is not MessageType.METHOD_CALL:
            return None
        if message.interface == PROPERTIES_INTERFACE:
            return Message.new_method_return(message, "a{sv}", [{"Version": Variant("s", "0")}])
        if message.interface != MANAGER.interface:
            return None
        if message.member == "Subscribe":
            return Message.new_method_return(message)
        self.calls.append((message.member or "", list(message.body)))
        if self.refusal is not None:
            return Message.new_error(message, self.refusal, "refused by the fake")
        number = len(self.calls)
        job = f"/org/freedesktop/systemd1/job/{number}"
        self._job_removed(number + 1000, f"{job}0", "other.service", "failed")
        if self.result is not None:
            self._job_removed(number, job, message.body[0], self.result)
        return Message.new_method_return(message, "o", [job])

    def _job_removed(self, number: int, job: str, unit: str, result: str) -> None:
        self.bus.send(  # queued in order; the reply is sent after it
            Message.new_signal(
                MANAGER.path, MANAGER.interface, "JobRemoved", "uoss", [number, job, unit, result]
            )
        )


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PrivateBus]:
    skip_if_unavailable()
    with private_bus(tmp_path / "bus") as started:
        yield started


@pytest.fixture
async def systemd(bus: PrivateBus) -> AsyncIterator[FakeSystemd]:
    connection = await MessageBus(bus_address=bus.address, bus_type=BusType.SYSTEM).connect()
    fake = FakeSystemd(connection)
    connection.add_message_handler(fake.answer)
    await connection.request_name(MANAGER.service)
    yield fake
    connection.disconnect()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "mnt" / "scratch").mkdir(parents=True)
    return tmp_path / "root"


@pytest.fixture
def driver(bus: PrivateBus, root: Path) -> SystemdMountDriver:
    policy = TargetPolicy(deny=["/"], deny_below=["/proc"])
    return SystemdMountDriver(root, policy, SystemBus(bus.address, timeout=5.0), job_timeout=0.5)


def tmpfs(target: str = "/mnt/scratch") -> MountSpec:
    return MountSpec(target=target, fstype="tmpfs", options=MountOptions(size="1m"))


async def test_mount_starts_the_targets_transient_unit(
    driver: SystemdMountDriver, systemd: FakeSystemd, root: Path
) -> None:
    await driver.mount(tmpfs())

    [(method, [name, mode, properties, auxiliary])] = systemd.calls
    where = f"{os.path.realpath(root)}/mnt/scratch"
    assert (method, name, mode, auxiliary) == ("StartTransientUnit", unit_name(where), "fail", [])
    assert {key: value.value for key, value in properties}["Where"] == where


async def test_a_job_that_fails_is_a_unit_failed_error(
    driver: SystemdMountDriver, systemd: FakeSystemd
) -> None:
    systemd.result = "failed"
    with pytest.raises(MountUnitFailedError) as raised:
        await driver.mount(tmpfs())
    assert raised.value.reason == "UnitFailed"
    assert "ended 'failed'" in raised.value.detail


async def test_a_job_that_never_ends_fails_after_the_job_timeout(
    driver: SystemdMountDriver, systemd: FakeSystemd
) -> None:
    systemd.result = None
    with pytest.raises(MountUnitFailedError, match=r"did not end within 0\.5 s"):
        await driver.mount(tmpfs())


async def test_a_unit_systemd_already_has_is_unit_exists(
    driver: SystemdMountDriver, systemd: FakeSystemd
) -> None:
    systemd.refusal = UNIT_EXISTS
    with pytest.raises(MountUnitExistsError) as raised:
        await driver.mount(tmpfs())
    assert raised.value.reason == "UnitExists"


async def test_invalid_arguments_are_invalid_options(
    driver: SystemdMountDriver, systemd: FakeSystemd
) -> None:
    systemd.refusal = "org.freedesktop.DBus.Error.InvalidArgs"
    with pytest.raises(MountInvalidError, match="systemd refused the unit"):
        await driver.mount(tmpfs())


async def test_nothing_is_asked_for_a_missing_or_denied_target(
    driver: SystemdMountDriver, systemd: FakeSystemd
) -> None:
    with pytest.raises(MountTargetNotFoundError):
        await driver.mount(tmpfs("/mnt/absent"))
    with pytest.raises(MountDeniedError):
        await driver.mount(tmpfs("/proc/fs"))
    with pytest.raises(MountDeniedError):
        await driver.unmount("/proc/fs", detach_busy=False)
    assert systemd.calls == []


async def test_unmount_of_nothing_mounted_asks_nothing(
    driver: SystemdMountDriver, systemd: FakeSystemd
) -> None:
    await driver.unmount("/mnt/scratch", detach_busy=False)
    assert systemd.calls == []


async def test_the_startup_check_names_systemd_and_the_bus(
    driver: SystemdMountDriver, bus: PrivateBus
) -> None:
    with pytest.raises(ServiceUnreachableError) as raised:
        await driver.check_systemd()
    assert str(raised.value).startswith(
        f"org.freedesktop.systemd1 is not reachable on the system bus ({bus.address})"
    )


async def test_the_startup_check_passes_when_systemd_answers(
    driver: SystemdMountDriver, systemd: FakeSystemd
) -> None:
    await driver.check_systemd()


# --- Configuration -------------------------------------------------------------------------------


def test_the_systemd_driver_is_refused_in_the_sandbox() -> None:
    with pytest.raises(ConfigError, match="systemd cannot run in a sandbox"):
        load_config(None, {"sandbox": True, "domains": {"mounts": {"driver": "systemd"}}})


def test_a_daemon_without_systemd_says_so_and_exits(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        f"listen: unix://{tmp_path / 's.sock'}\n"
        f"root: {tmp_path / 'root'}\n"
        "domains: {mounts: {driver: systemd}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "cosid.daemon.main", "--config", str(config)],
        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "cosid: domains.mounts.driver is systemd, but org.freedesktop.systemd1" in done.stderr
    assert not (tmp_path / "s.sock").exists()
