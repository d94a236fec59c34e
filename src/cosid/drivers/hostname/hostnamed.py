"""The hostnamed hostname driver: systemd-hostnamed (org.freedesktop.hostname1) on the system
bus sets the kernel's hostname and /etc/hostname; the NIS domain name, which hostnamed does not
manage, is set with setdomainname(2) as the kernel driver does.

hostnamed's rules decide what the kernel holds, and this driver follows them:

- the static hostname (/etc/hostname) wins: while there is one, the kernel's hostname is it,
  and SetHostname (the transient name) changes nothing but a kernel that drifted from it;
- SetStaticHostname with the name it already holds is a no-op, even if the kernel drifted;
- removing the static hostname sets the kernel to hostnamed's fallback (``localhost``).

So `write` calls SetHostname first (hostnamed validates the name; a refusal leaves the file as
it was, and a drifted kernel is repaired), then SetStaticHostname (the file, and the kernel with
it). `write_file(None)` removes the static hostname and then gives the kernel back the name it
had, so only the file changes. A kernel name that differs from a static one cannot be kept:
hostnamed sets the static one.

`read` reports hostnamed's Hostname (the kernel's name, in hostnamed's UTS namespace) and
StaticHostname (what /etc/hostname holds; hostnamed reads the file at each request, so an edit
is seen at once). A missing, empty or invalid file is an empty StaticHostname, reported as no
file (None); otherwise the file is reported as hostname(5) writes it (`file_content`).

Every call passes ``interactive=false``: cosid is a daemon with nobody to answer a polkit
password prompt. With true, polkit would wait for an authentication agent and the call would
hang until the bus timeout; with false, polkit decides at once (root is allowed) and a refusal
comes back as AccessDenied or InteractiveAuthorizationRequired, a `HostnamePermissionError`.

Besides the Protocol's errors, any method may raise a `cosid.drivers.dbus.BusError`
(``BusUnavailable``, ``ServiceUnavailable``...) when the bus or hostnamed is not there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cosid.drivers import libc
from cosid.drivers.dbus import (
    AccessDeniedError,
    BusConnection,
    BusObject,
    InvalidArgumentsError,
    SystemBus,
)
from cosid.drivers.errors import describe_os_error
from cosid.drivers.hostname.driver import (
    HostnameInvalidNameError,
    HostnamePermissionError,
    HostnameReadError,
    HostnameState,
)
from cosid.drivers.hostname.kernel import FILE_WHAT, set_kernel_name
from cosid.resources.hostname import file_content

HOSTNAMED = BusObject(
    service="org.freedesktop.hostname1",
    path="/org/freedesktop/hostname1",
    interface="org.freedesktop.hostname1",
)
HOSTNAME_FILE = Path("/etc/hostname")
"""The file hostnamed writes, as cosid sees it (hostnamed knows no root prefix)."""
INTERACTIVE = False
"""Never ask polkit to prompt anyone (see the module's docstring)."""
_ENCODING = "utf-8"


class HostnamedDriver:
    """`HostnameDriver` over systemd-hostnamed on `bus`, and the kernel's NIS domain name of
    the calling thread's UTS namespace."""

    def __init__(self, bus: SystemBus) -> None:
        self.bus = bus
        self.watched_paths = (HOSTNAME_FILE,)

    async def check(self) -> None:
        """Prove at start-up that hostnamed answers on the bus.

        Raises `cosid.drivers.dbus.ServiceUnreachableError` (a ConnectionError) saying why not.
        """
        await self.bus.check(HOSTNAMED)

    async def read(self) -> HostnameState:
        async with self.bus.connect() as connection:
            properties = await connection.properties(HOSTNAMED)
        static = _text(properties, "StaticHostname")
        return HostnameState(
            hostname=_text(properties, "Hostname"),
            domain=_read_domain(),
            file=file_content(static) if static else None,
        )

    async def write(self, hostname: str, domain: str | None) -> None:
        async with self.bus.connect() as connection:
            await _set(connection, "SetHostname", "hostname", hostname)
            if domain is not None:
                set_kernel_name("domain", libc.setdomainname, domain)
            await _set(connection, "SetStaticHostname", FILE_WHAT, hostname)

    async def write_file(self, content: str | None) -> None:
        """As the Protocol says; the static hostname is `content` without its line break.
        Setting one also sets the kernel's hostname (hostnamed's rule); removing it keeps
        the kernel's."""
        async with self.bus.connect() as connection:
            if content is not None:
                await _set(connection, "SetStaticHostname", FILE_WHAT, content.strip())
                return
            kept = _text(await connection.properties(HOSTNAMED), "Hostname")
            await _set(connection, "SetStaticHostname", FILE_WHAT, "")
            await _set(connection, "SetHostname", "hostname", kept)


async def _set(connection: BusConnection, method: str, what: str, name: str) -> None:
    """Call one of hostnamed's setters; its refusals become the hostname driver's errors."""
    try:
        await connection.call(HOSTNAMED, method, "sb", (name, INTERACTIVE))
    except InvalidArgumentsError as error:
        raise HostnameInvalidNameError(
            what, f"hostnamed refused {name!r}: {error.detail}"
        ) from None
    except AccessDeniedError as error:
        raise HostnamePermissionError(
            what, f"may not be set by cosid through hostnamed: {error.detail}"
        ) from None


def _text(properties: dict[str, Any], name: str) -> str:
    value = properties.get(name)
    if not isinstance(value, str):
        raise HostnameReadError(HOSTNAMED.service, f"has no text property {name}")
    return value


def _read_domain() -> str:
    """The kernel's NIS domain name, which hostnamed does not report."""
    try:
        return libc.getdomainname().decode(_ENCODING, errors="replace")
    except OSError as error:
        raise HostnameReadError("domain", describe_os_error(error), error.errno) from None
