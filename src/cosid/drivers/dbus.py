"""The system bus: the one place cosid speaks D-Bus (with dbus-fast), for the drivers that ask
systemd's services to change the node (hostnamed; resolved, networkd and mount units later).

The bus is found where every system service finds it: ``$DBUS_SYSTEM_BUS_ADDRESS``, else the
well-known socket (`SystemBus.from_environment`).

A connection is opened per operation (`SystemBus.connect`) and closed after it. Drivers are
made before the event loop runs and are called from whichever loop reconciles (a test's
namespace thread runs its own), and such calls come once a resync or on a new spec: a
connection of their own costs a millisecond or two, and leaves nothing to go stale when
dbus-daemon or the service restarts.

Every step has a deadline (`SystemBus.timeout`): a bus or a service that never answers (hung,
or waiting for someone to authorize the call) fails the operation with a reason instead of
stalling a controller. Failures are `BusError` subclasses whose `reason` says what the
operator has to fix: the bus (`BusUnavailable`), the service (`ServiceUnavailable`), its
policy (`AccessDenied`), the arguments (`InvalidArguments`), or anything else the service
answered (`CallFailed`, with the D-Bus error name in `name` and the detail).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from dbus_fast import BusType, DBusFastError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from cosid.drivers.errors import DriverError

ADDRESS_VARIABLE = "DBUS_SYSTEM_BUS_ADDRESS"
DEFAULT_ADDRESS = "unix:path=/var/run/dbus/system_bus_socket"
"""The D-Bus specification's system bus, used when the environment names none."""
DEFAULT_TIMEOUT_SECONDS = 10.0
PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties"

_ERROR_PREFIX = "org.freedesktop.DBus.Error."
_SERVICE_UNAVAILABLE = frozenset(
    _ERROR_PREFIX + name
    for name in ("ServiceUnknown", "NameHasNoOwner", "NoReply", "Timeout", "TimedOut")
)
"""Nobody owns the name and none can be started, or the owner did not answer."""
_SPAWN_FAILED = _ERROR_PREFIX + "Spawn."
"""Prefix of the errors of a bus activation that failed (the service cannot be started)."""
_ACCESS_DENIED = frozenset(
    _ERROR_PREFIX + name
    for name in ("AccessDenied", "AuthFailed", "InteractiveAuthorizationRequired")
)
"""The bus policy or the service (polkit) refused the caller."""
_INVALID_ARGUMENTS = _ERROR_PREFIX + "InvalidArgs"


class BusError(DriverError):
    """A call failed for a reason none of the subclasses names. The subject is the service's
    bus name; `name` is the D-Bus error name when the bus or the service answered with one."""

    reason = "CallFailed"

    def __init__(self, subject: str, detail: str, name: str | None = None) -> None:
        super().__init__(subject, detail)
        self.name = name


class BusUnavailableError(BusError):
    """The system bus cannot be reached: no socket, refused, authentication failed, or the
    connection broke."""

    reason = "BusUnavailable"


class ServiceUnavailableError(BusError):
    """The bus is there but the service is not: nobody owns its name and none can be
    started, or it did not answer in time."""

    reason = "ServiceUnavailable"


class AccessDeniedError(BusError):
    """The bus policy or the service (through polkit) refused the call."""

    reason = "AccessDenied"


class InvalidArgumentsError(BusError, ValueError):
    """The service refused the call's arguments (an invalid hostname, say)."""

    reason = "InvalidArguments"


class ServiceUnreachableError(ConnectionError):
    """A start-up check's finding (`SystemBus.check`): a service that the configuration
    chose cannot be talked to. The message is for the operator: the service, the bus address
    and the cause."""


@dataclass(frozen=True, slots=True)
class BusObject:
    """An interface of an object of a service: what a call is addressed to."""

    service: str
    """The well-known bus name (``org.freedesktop.hostname1``)."""
    path: str
    interface: str


BUS_DAEMON = BusObject("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
"""The bus itself: it takes the match rules that route signals to a connection."""


class BusConnection:
    """One open connection to the system bus (from `SystemBus.connect`)."""

    def __init__(self, bus: MessageBus, address: str, timeout: float) -> None:
        self._bus = bus
        self._address = address
        self._timeout = timeout

    async def call(
        self, target: BusObject, member: str, signature: str = "", body: Sequence[Any] = ()
    ) -> list[Any]:
        """Call `member` of `target` with `body` (typed by `signature`); the reply's body.

        Raises a BusError subclass naming the reason.
        """
        message = Message(
            destination=target.service,
            path=target.path,
            interface=target.interface,
            member=member,
            signature=signature,
            body=list(body),
        )
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._bus.call(message)
        except TimeoutError:
            raise ServiceUnavailableError(
                target.service, f"{member}: no answer within {self._timeout:g} s"
            ) from None
        except (OSError, EOFError, DBusFastError) as error:
            raise BusUnavailableError(
                target.service,
                f"{member}: the connection to {self._address} broke: {_describe(error)}",
            ) from None
        if reply.message_type is MessageType.ERROR:
            raise _error_of_reply(target.service, member, reply)
        return list(reply.body)

    @asynccontextmanager
    async def signals(
        self, source: BusObject, member: str
    ) -> AsyncIterator[asyncio.Queue[list[Any]]]:
        """The bodies of the `member` signals `source` emits, queued from this call on (before
        the call that causes them, so none is missed) until the block ends.

        Raises a BusError subclass naming the reason when the bus refuses the match rule.
        """
        rule = (
            f"type='signal',sender='{source.service}',path='{source.path}',"
            f"interface='{source.interface}',member='{member}'"
        )
        await self.call(BUS_DAEMON, "AddMatch", "s", (rule,))
        queue: asyncio.Queue[list[Any]] = asyncio.Queue()

        def receive(message: Message) -> None:
            if message.message_type is MessageType.SIGNAL and (
                message.path,
                message.interface,
                message.member,
            ) == (source.path, source.interface, member):
                queue.put_nowait(list(message.body))

        self._bus.add_message_handler(receive)
        try:
            yield queue
        finally:
            self._bus.remove_message_handler(receive)

    async def properties(self, target: BusObject) -> dict[str, Any]:
        """Every property of `target`'s interface (one GetAll), values unwrapped from their
        variants. Raises a BusError subclass naming the reason."""
        properties = replace(target, interface=PROPERTIES_INTERFACE)
        (found,) = await self.call(properties, "GetAll", "s", (target.interface,))
        return {
            name: value.value if isinstance(value, Variant) else value
            for name, value in found.items()
        }


class SystemBus:
    """Where the system bus is, and how long any step of an operation on it may take."""

    def __init__(
        self, address: str = DEFAULT_ADDRESS, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.address = address
        self.timeout = timeout

    @classmethod
    def from_environment(cls, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> SystemBus:
        """The bus ``$DBUS_SYSTEM_BUS_ADDRESS`` names, else the well-known one."""
        return cls(os.environ.get(ADDRESS_VARIABLE) or DEFAULT_ADDRESS, timeout)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[BusConnection]:
        """A connection for one operation, closed when the block ends.

        Raises BusUnavailableError when the bus cannot be reached.
        """
        try:
            async with asyncio.timeout(self.timeout):
                bus = await MessageBus(bus_address=self.address, bus_type=BusType.SYSTEM).connect()
        except TimeoutError:
            raise BusUnavailableError(
                "system bus", f"{self.address} did not let cosid in within {self.timeout:g} s"
            ) from None
        except (OSError, EOFError, DBusFastError) as error:
            raise BusUnavailableError(
                "system bus", f"cannot connect to {self.address}: {_describe(error)}"
            ) from None
        try:
            yield BusConnection(bus, self.address, self.timeout)
        finally:
            bus.disconnect()

    async def check(self, target: BusObject) -> None:
        """Read `target`'s properties once, to prove at start-up that the service is there
        and speaks the interface.

        Raises ServiceUnreachableError, whose message says what is missing where.
        """
        try:
            async with self.connect() as connection:
                await connection.properties(target)
        except BusError as error:
            raise ServiceUnreachableError(
                f"{target.service} is not reachable on the system bus ({self.address}): "
                f"{error.detail}"
            ) from None


def _error_of_reply(service: str, member: str, reply: Message) -> BusError:
    """The BusError for an error reply: its class from the D-Bus error name."""
    name = reply.error_name or "unknown"
    text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
    detail = f"{member}: {name}: {text}" if text else f"{member}: {name}"
    if name in _SERVICE_UNAVAILABLE or name.startswith(_SPAWN_FAILED):
        return ServiceUnavailableError(service, detail, name)
    if name in _ACCESS_DENIED:
        return AccessDeniedError(service, detail, name)
    if name == _INVALID_ARGUMENTS:
        return InvalidArgumentsError(service, detail, name)
    return BusError(service, detail, name)


def _describe(error: BaseException) -> str:
    """The exception's class and message: dbus-fast's messages alone can be empty."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
