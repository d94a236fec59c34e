"""Telling systemd how the daemon is doing: the sd_notify(3) protocol, without libsystemd.

systemd (for `Type=notify`) hands the service a datagram socket in $NOTIFY_SOCKET: a path,
or an abstract name written with a leading ``@``. Each message is one datagram of
``KEY=value`` lines: READY=1 once the daemon serves and has attempted every stored spec,
STOPPING=1 when it begins to shut down, STATUS=... for `systemctl status`, and WATCHDOG=1 pings.
No RELOADING=1 around a SIGHUP refresh: a refresh only queues a reconcile of every item and
returns, so systemd would see a reload that ends as it begins.

The socket is opened and connected first thing, before the daemon enters a sandbox or a
network namespace: an abstract name belongs to a network namespace, and a path may not be
reachable from another mount namespace, but a socket connected before keeps its peer.

Watchdog: with $WATCHDOG_USEC set (and $WATCHDOG_PID unset or this process), `watchdog` pings
every half of that period from the event loop, so a loop that is stuck stops pinging and
systemd restarts the daemon. Without $NOTIFY_SOCKET every call does nothing. A message that
cannot be sent is logged and dropped: systemd's bookkeeping never stops the daemon.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger("cosid.daemon")


class Notifier:
    """The notification socket, connected; or nothing, outside systemd."""

    def __init__(self, address: str | None, watchdog_seconds: float | None = None) -> None:
        """`address`: $NOTIFY_SOCKET's value; `watchdog_seconds`: systemd's watchdog period."""
        self._socket: socket.socket | None = None
        self.watchdog_seconds = watchdog_seconds
        if address:
            self._socket = _connect(address)

    @classmethod
    def from_environment(cls, environment: Mapping[str, str] = os.environ) -> Notifier:
        """What systemd passed (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`)."""
        return cls(environment.get("NOTIFY_SOCKET"), _watchdog_seconds(environment))

    def ready(self, status: str) -> None:
        self._send(READY="1", STATUS=status)

    def stopping(self) -> None:
        self._send(STOPPING="1", STATUS="shutting down")

    async def watchdog(self) -> None:
        """Ping every half watchdog period until cancelled; returns at once without a watchdog."""
        if self.watchdog_seconds is None:
            return
        while True:
            self._send(WATCHDOG="1")
            await asyncio.sleep(self.watchdog_seconds / 2)

    def _send(self, **fields: str) -> None:
        if self._socket is None:
            return
        message = "".join(f"{key}={value}\n" for key, value in fields.items()).encode()
        try:
            self._socket.send(message)
        except OSError as error:
            log.warning("cannot notify systemd", message=sorted(fields), error=str(error))


def _connect(address: str) -> socket.socket | None:
    """A datagram socket connected to `address` (``@`` for an abstract name); None, logged,
    when it cannot be."""
    target = "\0" + address[1:] if address.startswith("@") else address
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    notify.setblocking(False)  # a full queue drops a message, never stalls the event loop
    try:
        notify.connect(target)
    except OSError as error:
        notify.close()
        log.warning("cannot reach systemd's notify socket", address=address, error=str(error))
        return None
    return notify


def _watchdog_seconds(environment: Mapping[str, str]) -> float | None:
    """systemd's watchdog period, when it is meant for this process (sd_watchdog_enabled(3))."""
    try:
        usec = int(environment.get("WATCHDOG_USEC", ""))
        pid = int(environment.get("WATCHDOG_PID", str(os.getpid())))
    except ValueError:
        return None
    if usec <= 0 or pid != os.getpid():
        return None
    return usec / 1_000_000
