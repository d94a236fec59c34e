"""sd_notify end to end: the real daemon tells a datagram socket the test binds (as systemd's
$NOTIFY_SOCKET) that it is ready only once the stored specs were applied, pings the watchdog at
half its period, and says when it stops."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cosid.daemon.notify import Notifier
from tests.daemon.test_sysctl import FORWARD, apply, kernel_value
from tests.support.daemon import Daemon, running_daemon, running_daemon_with

MESSAGE_TIMEOUT = 20.0


@dataclass
class Notifications:
    """The socket systemd would listen on, and what the daemon sent there."""

    address: str
    """As $NOTIFY_SOCKET spells it (``@`` starts an abstract name)."""
    receiver: socket.socket

    def launcher(self, **environment: str) -> tuple[str, ...]:
        """Runs the daemon with $NOTIFY_SOCKET (and `environment`) set, as systemd does."""
        settings = {"NOTIFY_SOCKET": self.address, **environment}
        return ("env", *(f"{key}={value}" for key, value in settings.items()))

    def next(self, within: float = MESSAGE_TIMEOUT) -> dict[str, str]:
        self.receiver.settimeout(within)
        message = self.receiver.recv(4096).decode()
        return dict(line.split("=", 1) for line in message.splitlines())

    def wait_for(self, key: str) -> dict[str, str]:
        """The first message with `key`, skipping others (watchdog pings)."""
        deadline = time.monotonic() + MESSAGE_TIMEOUT
        while (message := self.next(deadline - time.monotonic())).get(key) != "1":
            pass
        return message

    def count(self, key: str, seconds: float) -> int:
        """How many messages with `key` arrive in the next `seconds`."""
        deadline = time.monotonic() + seconds
        found = 0
        while (left := deadline - time.monotonic()) > 0:
            try:
                found += key in self.next(left)
            except TimeoutError:
                break
        return found


@pytest.fixture
def abstract_notifications() -> Iterator[Notifications]:
    """An abstract name: a network namespace's own, so the daemon must connect before it
    enters its sandbox."""
    name = f"cosid-test-notify-{secrets.token_hex(6)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(f"\0{name}")
        yield Notifications(f"@{name}", receiver)


@pytest.fixture
def notifications(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Notifications]:
    path = tmp_path_factory.mktemp("notify") / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(str(path))
        yield Notifications(str(path), receiver)


def last_record(daemon: Daemon, event: str) -> dict[str, object]:
    return [record for record in daemon.log_records() if record.get("event") == event][-1]


async def test_ready_comes_once_every_stored_spec_was_attempted_even_a_failing_one(
    abstract_notifications: Notifications,
) -> None:
    with running_daemon(sandbox=True) as daemon:
        await apply(daemon, FORWARD, "1")
        await apply(daemon, "kernel.pid_max", "99999")  # refused in the sandbox: NotIsolated
        assert daemon.stop() == 0

        daemon.launcher = abstract_notifications.launcher()
        daemon.start(wait=False)  # a fresh sandbox: ip_forward is the kernel's 0 again
        ready = abstract_notifications.wait_for("READY")

        assert kernel_value(daemon, FORWARD) == "1", "applied before READY=1"
        logged = last_record(daemon, "ready")
        assert logged["items"] == 2, "2 specs, each an item of sysctl"
        assert ready["STATUS"].startswith("serving; 2 items reconciled in ")
        assert "reconcile failed" in {record.get("event") for record in daemon.log_records()}


def test_the_watchdog_is_pinged_at_half_its_period_and_stopping_is_said(
    notifications: Notifications,
) -> None:
    launcher = notifications.launcher(WATCHDOG_USEC="200000")
    with running_daemon_with(launcher=launcher) as daemon:
        notifications.wait_for("READY")

        pings = notifications.count("WATCHDOG", seconds=1.0)

        assert 5 <= pings <= 15, f"every 0.1 s: {pings} in 1 s"
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGTERM)
        assert notifications.wait_for("STOPPING")["STATUS"] == "shutting down"
        assert daemon.stop() == 0


@pytest.mark.parametrize(
    ("environment", "seconds"),
    [
        ({"WATCHDOG_USEC": "200000"}, 0.2),
        ({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}, 0.2),
        ({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_watchdog_period_is_systemds_for_this_process_only(
    environment: dict[str, str], seconds: float | None
) -> None:
    assert Notifier.from_environment(environment).watchdog_seconds == seconds
