"""The resolved DNS driver: the node's global DNS configuration in systemd-resolved.

systemd-resolved (252, Debian 12) takes per-link DNS settings over D-Bus, but its global ones
only from resolved.conf: no bus method sets them, and it reloads nothing on SIGHUP. The
resolver spec is the node's one configuration, so this driver writes it where a systemd user
would, a drop-in (`DROP_IN_PATH`) that resets resolved.conf's lists and gives its own::

    # Written by cosid: edits are undone; change cosid's resolver spec instead.
    [Resolve]
    DNS=
    DNS=192.0.2.53 2001:db8::53
    Domains=
    Domains=lab.example.com

and then restarts systemd-resolved through systemd (``RestartUnit``, waiting for the job to
end), the one way resolved 252 rereads it. `read` reports the drop-in and what resolved says
it uses: the global entries (link index 0) of the Manager's ``DNS`` and ``Domains``
properties, routing-only domains left out. A spec holds only when both are right, so an edit
of the drop-in (inotify) and a resolved that runs something else (the resync) are repaired
alike. Deleting the spec puts back what was at the drop-in's path (nothing, usually) and
restarts resolved again.

The controller hands every DNS driver the resolv.conf text the spec stands for
(`cosid.resources.dns.file_content`); this driver reads it back as resolvers would
(`read_back`) and writes the same servers and domains in resolved.conf's words. What resolved
cannot do is refused (`DnsUnsupportedError`, nothing written): resolv.conf options (resolved's
stub has its own), and link-local servers with a zone id (resolved lists them under their
link, among the link's own servers, so they could not be read back).

The drop-in is under the root prefix, like every file cosid writes; the resolved on the bus
reads it only when that prefix is ``/``. Besides the Protocol's errors, any method may raise a
`cosid.drivers.dbus.BusError` (``BusUnavailable``, ``ServiceUnavailable``...) when the bus,
systemd or resolved is not there.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from cosid.drivers import files
from cosid.drivers.dbus import (
    BusConnection,
    BusObject,
    ServiceUnavailableError,
    SystemBus,
)
from cosid.drivers.dns.driver import (
    DnsNotAFileError,
    DnsReadError,
    DnsUnsupportedError,
    DnsWriteError,
    RegularFile,
    ResolvConf,
    os_error,
)
from cosid.drivers.systemd import MANAGER, run_job
from cosid.resources.dns import FILE_MODE, HEADER, ResolverConfig, read_back

RESOLVED = BusObject(
    service="org.freedesktop.resolve1",
    path="/org/freedesktop/resolve1",
    interface="org.freedesktop.resolve1.Manager",
)
RESOLVED_UNIT: Final = "systemd-resolved.service"
DROP_IN_PATH: Final = "/etc/systemd/resolved.conf.d/90-cosid.conf"
"""Late among drop-ins (they are read in name order), so its empty ``DNS=`` and ``Domains=``
reset whatever resolved.conf and earlier drop-ins said."""
MAX_READ_BYTES: Final = 64 * 1024

_GLOBAL: Final = 0
"""The link index of resolved's global entries."""

Restart = Callable[[], Awaitable[None]]
"""Makes systemd-resolved read its configuration again, returning once it runs with it."""


class ResolvedDriver:
    """`DnsDriver` over systemd-resolved on `bus`, with its drop-in under `root`.

    `restart` is how resolved is made to reread the drop-in: by default systemd's
    ``RestartUnit`` on the same bus (`restart_unit`); tests without systemd pass their own.
    """

    path = DROP_IN_PATH

    def __init__(self, root: Path, bus: SystemBus, restart: Restart | None = None) -> None:
        self.root = os.path.realpath(root)
        self.bus = bus
        self._restart = restart or (lambda: restart_unit(bus, RESOLVED_UNIT))
        self._directory, self._name = os.path.split(self._host(DROP_IN_PATH))
        self.watched_paths = (Path(self._host(DROP_IN_PATH)),)

    async def check(self) -> None:
        """Prove at start-up that systemd-resolved answers on the bus.

        Raises `cosid.drivers.dbus.ServiceUnreachableError` (a ConnectionError) saying why not.
        """
        await self.bus.check(RESOLVED)

    async def read(self) -> ResolvConf:
        file = await asyncio.to_thread(self._read_file)
        async with self.bus.connect() as connection:
            effective = await _global_configuration(connection)
        return ResolvConf(file=file, effective=effective)

    def holds(self, found: ResolvConf, content: bytes) -> bool:
        wanted = read_back(content)
        return (
            found.file is not None
            and found.file.content == drop_in(wanted)
            and found.file.mode == FILE_MODE
            and found.effective
            == ResolverConfig(nameservers=wanted.nameservers, search=wanted.search)
        )

    async def write(self, content: bytes) -> None:
        wanted = read_back(content)
        self._check_supported(wanted)
        await asyncio.to_thread(self._put, drop_in(wanted), FILE_MODE)
        await self._restart()

    async def restore(self, symlink: str | None, content: bytes | None, mode: int) -> None:
        """As the Protocol says; `symlink` is always None here (`read` refuses one)."""
        await asyncio.to_thread(self._put, content, mode)
        await self._restart()

    def _check_supported(self, wanted: ResolverConfig) -> None:
        if wanted.options:
            raise DnsUnsupportedError(
                self.path,
                f"systemd-resolved takes no resolv.conf options ({' '.join(wanted.options)}): "
                "its stub sets its own; leave options unset, or use the resolvconf driver",
            )
        zoned = [server for server in wanted.nameservers if "%" in server]
        if zoned:
            raise DnsUnsupportedError(
                self.path,
                f"a server with a zone id ({', '.join(zoned)}) is listed by systemd-resolved "
                "among its link's own servers, so cosid could not read it back: "
                "give a global address, or use the resolvconf driver",
            )

    # --- the drop-in --------------------------------------------------------------------------

    def _read_file(self) -> RegularFile | None:
        try:
            directory = files.open_directory(self._directory)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise os_error(DnsReadError, self.path, "cannot be opened", error) from None
        try:
            if files.find(directory, self._name) is None:
                return None
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(self._name, flags, dir_fd=directory)
        except OSError as error:
            raise os_error(DnsReadError, self.path, "cannot be opened", error) from None
        finally:
            os.close(directory)
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise DnsNotAFileError(self.path, "is not a regular file")
            content = files.read_all(fd, MAX_READ_BYTES)
        except OSError as error:
            raise os_error(DnsReadError, self.path, "cannot be read", error) from None
        finally:
            os.close(fd)
        return RegularFile(self.path, content, stat.S_IMODE(status.st_mode))

    def _put(self, content: bytes | None, mode: int) -> None:
        """The drop-in holds `content` with `mode`, or is absent (None); its directory is
        made when missing."""
        try:
            directory = files.open_directory(self._directory, create=content is not None)
        except FileNotFoundError:
            return  # no directory, so no drop-in to remove
        except OSError as error:
            raise os_error(DnsWriteError, self.path, "cannot be opened", error) from None
        try:
            if content is None:
                files.remove(directory, self._name)
            else:
                files.replace(directory, self._name, content, mode=mode)
        except OSError as error:
            what = "cannot be removed" if content is None else "cannot be replaced"
            raise os_error(DnsWriteError, self.path, what, error) from None
        finally:
            os.close(directory)

    def _host(self, path: str) -> str:
        """A node path under the root prefix."""
        return os.path.normpath(os.path.join(self.root, path.lstrip("/")))


def drop_in(config: ResolverConfig) -> bytes:
    """The drop-in that gives resolved `config`'s servers and search domains, byte for byte."""
    lines = [HEADER, "[Resolve]\n", "DNS=\n"]
    if config.nameservers:
        lines.append(f"DNS={' '.join(config.nameservers)}\n")
    lines.append("Domains=\n")
    if config.search:
        lines.append(f"Domains={' '.join(config.search)}\n")
    return "".join(lines).encode()


async def restart_unit(bus: SystemBus, unit: str) -> None:
    """Restart `unit` through systemd on `bus`, returning when the job has ended (a
    ``Type=notify`` service is then up and ready). Raises a BusError subclass naming the
    reason (ServiceUnavailable when the job outlasts the bus timeout)."""
    async with bus.connect() as connection:
        try:
            async with asyncio.timeout(bus.timeout):
                await run_job(connection, "RestartUnit", "ss", (unit, "replace"))
        except TimeoutError:
            raise ServiceUnavailableError(
                MANAGER.service, f"restarting {unit} took longer than {bus.timeout:g} s"
            ) from None


async def _global_configuration(connection: BusConnection) -> ResolverConfig:
    """The servers and search domains resolved uses for every link (link index 0)."""
    properties = await connection.properties(RESOLVED)
    servers = properties.get("DNS", [])
    domains = properties.get("Domains", [])
    return ResolverConfig(
        nameservers=tuple(
            server_address(family, address)
            for index, family, address in servers
            if index == _GLOBAL
        ),
        search=tuple(
            name for index, name, routing_only in domains if index == _GLOBAL and not routing_only
        ),
    )


def server_address(family: int, packed: Any) -> str:
    """An address of resolved's ``DNS`` property (family, bytes) in canonical text."""
    address = ipaddress.ip_address(bytes(packed))
    expected = socket.AF_INET if address.version == 4 else socket.AF_INET6
    if family != expected:
        raise DnsReadError(RESOLVED.service, f"lists {address} as of address family {family}")
    return str(address)
