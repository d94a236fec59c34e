"""systemd's Manager on the system bus: what the drivers acting through PID 1 share (the
resolved DNS driver restarts a unit, the systemd mount driver starts and stops mount units)."""

from __future__ import annotations

from typing import Any, Final

from cosid.drivers.dbus import BusConnection, BusError, BusObject

MANAGER: Final = BusObject(
    service="org.freedesktop.systemd1",
    path="/org/freedesktop/systemd1",
    interface="org.freedesktop.systemd1.Manager",
)
JOB_DONE: Final = "done"


async def run_job(
    connection: BusConnection, method: str, signature: str, body: tuple[Any, ...]
) -> str:
    """Call a Manager `method` that queues a job, and return the job's result once systemd's
    JobRemoved signal reports it ended (``done``, ``failed``, ``canceled``...). The signal is
    watched before the call, so a job that ends at once is not missed; the caller bounds the
    wait (asyncio.timeout). A refusal to queue the job is the call's BusError."""
    async with connection.signals(MANAGER, "JobRemoved") as removed:
        try:
            await connection.call(MANAGER, "Subscribe")
        except BusError as error:  # said in the terms of what was asked
            raise type(error)(error.subject, f"{method}: {error.detail}", error.name) from None
        (job,) = await connection.call(MANAGER, method, signature, body)
        while True:
            _id, path, _unit, result = await removed.get()
            if path == job:
                return str(result)
