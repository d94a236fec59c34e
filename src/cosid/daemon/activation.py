"""Socket activation: serving the unix sockets systemd bound and passed in ($LISTEN_FDS).

systemd (a `.socket` unit) binds and listens on the sockets itself, before cosid starts, and
passes them as descriptors 3, 4, ... with $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES
(sd_listen_fds(3)). Clients can connect from early boot on, and across a restart of the
daemon: their connections wait in the socket's backlog.

gRPC's Python API cannot serve on a socket it did not bind: `add_insecure_port` takes an
address only. gRPC core can pick systemd's sockets up by path, but only when built against
libsystemd (grpc/grpc#30485, asked for in grpc/grpc#19133), which the published wheels are not
(grpc/grpc#36037 adds a build-from-source switch), and cosid does not depend on libsystemd. So
the daemon relays: the gRPC server of an activated socket's role listens on a private socket
(0600, in a 0700 directory of the daemon's beside the public one), and the daemon accepts on
systemd's socket from its event loop and copies each connection's bytes both ways. The role
checks, the audit log (which names the public socket) and everything else stay the same as for
a socket cosid binds itself. The copy is one more hop through the event loop (measured on the
2-core development machine: a sequential Get took about 0.8 ms direct and 0.9 ms relayed),
and keeps the daemon free of a C dependency.

Which listener a passed socket serves is decided by its own address (getsockname): the one of
`listen` / `listeners` at that path, with that listener's role. The socket unit's
ListenStream= and the configuration must therefore name the same paths; a passed socket that no
listener names stops the start-up rather than serve with a guessed role. FileDescriptorName=
is only logged. Listeners systemd did not pass are bound by the daemon as usual.

Connections made before the daemon is ready wait in the backlog and are served once the relays
start (after the gRPC servers); at shutdown the relays stop accepting first, so connections made
while the daemon stops wait for its next start instead of being refused. The daemon never
unlinks, re-modes or re-groups a socket it did not bind: its file belongs to the socket unit.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import grpc
import structlog

from cosid.daemon.listener import ListenerError, UnixListener
from cosid.server.roles import Role

log = structlog.get_logger("cosid.daemon")

LISTEN_FDS_START: Final = 3
"""The first passed descriptor (SD_LISTEN_FDS_START)."""
RELAY_CHUNK: Final = 1 << 16

AnyListener = TypeVar("AnyListener")


@dataclass(frozen=True)
class Inherited:
    """A listening unix stream socket systemd passed."""

    socket: socket.socket
    path: Path
    name: str
    """Its FileDescriptorName= (systemd's default: the socket unit's name)."""


def inherited_sockets(environment: MutableMapping[str, str] = os.environ) -> list[Inherited]:
    """The sockets passed to this very process (none when $LISTEN_PID names another), made
    close-on-exec; the variables are removed, as sd_listen_fds(3) does with `unset_environment`.
    Raises ListenerError for a descriptor that is not a listening unix stream socket with a
    path: cosid serves no other kind."""
    try:
        pid = int(environment.get("LISTEN_PID", ""))
        count = int(environment.get("LISTEN_FDS", ""))
    except ValueError:
        return []
    names = environment.get("LISTEN_FDNAMES", "").split(":")
    for variable in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environment.pop(variable, None)
    if pid != os.getpid():
        return []
    return [
        _inherit(fd, names[index] if index < len(names) else "unknown")
        for index, fd in enumerate(range(LISTEN_FDS_START, LISTEN_FDS_START + count))
    ]


def _inherit(fd: int, name: str) -> Inherited:
    described = f"socket {name!r} (descriptor {fd}) from systemd"
    try:
        os.set_inheritable(fd, False)
        passed = socket.socket(fileno=fd)
    except OSError as error:
        raise ListenerError(f"{described} is not a socket: {error.strerror}") from None
    address = passed.getsockname()
    listening = passed.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    if (
        passed.family != socket.AF_UNIX
        or passed.type != socket.SOCK_STREAM
        or not listening
        or not isinstance(address, str)
        or not address.startswith("/")
    ):
        passed.detach()  # not ours to close
        raise ListenerError(
            f"{described} is not a listening unix stream socket with a path "
            "(ListenStream=/path); cosid serves only those"
        )
    return Inherited(passed, Path(address), name)


class RelayedListener:
    """A listener whose socket systemd passed: the gRPC server listens on a private socket,
    and every connection to the public one is relayed there. Used where a `UnixListener` is
    (`claim`, `bind`, `release`, `address`, `role`), plus `start` and `stop_accepting`."""

    roles_from_certificates = False
    """Every caller has `role`: the socket unit's mode and group say who can connect."""

    def __init__(self, public: UnixListener, inherited: Inherited) -> None:
        self.path = public.path
        self.role: Role = public.role
        self.address = public.address
        """The public address, as the audit log names it."""
        self._inherited = inherited
        self._directory = public.path.parent / f".{public.path.name}.relay"
        self._private = UnixListener(self._directory / "grpc.sock", 0o600, None, public.role)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def claim(self) -> None:
        """The private directory (0700, the daemon's own) with no stale socket in it."""
        _private_directory(self._directory)
        self._private.claim()

    def bind(self, server: grpc.aio.Server) -> None:
        self._private.bind(server)

    async def start(self) -> None:
        """Accept on systemd's socket: from here on, connections waiting in its backlog are
        served. Call once the gRPC server listens."""
        self._server = await asyncio.start_unix_server(self._relay, sock=self._inherited.socket)

    def stop_accepting(self) -> None:
        """New connections wait in the backlog (for the next start); relayed ones go on."""
        if self._server is not None:
            self._server.close()  # closes the daemon's descriptor; systemd keeps its own

    def release(self) -> None:
        """Drop what the daemon made: the relays, the private socket and its directory. The
        public socket stays, as systemd made it."""
        self.stop_accepting()
        for connection in self._connections:
            connection.cancel()
        self._private.release()
        try:
            self._directory.rmdir()
        except OSError as error:
            log.warning(
                "cannot remove the relay directory", path=str(self._directory), error=str(error)
            )

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        """One client's connection, copied both ways over a connection of its own to the
        private socket, until both ends are done (or the listener is released)."""
        task = asyncio.current_task()
        assert task is not None  # asyncio runs each connection's callback as a task
        self._connections.add(task)
        try:
            server_in, server_out = await asyncio.open_unix_connection(self._private.path)
            try:
                await asyncio.gather(_copy(client_in, server_out), _copy(server_in, client_out))
            finally:
                server_out.close()
        except OSError as error:  # the private socket is gone: the daemon is stopping
            log.warning("cannot relay a connection", listener=self.address, error=str(error))
        finally:
            client_out.close()
            self._connections.discard(task)


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Everything from `source` to `sink`, then end the sink's writing half; on an error
    (a peer reset), close the sink, so the other direction ends too."""
    try:
        while data := await source.read(RELAY_CHUNK):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except OSError:
        sink.close()


def _private_directory(path: Path) -> None:
    """`path` is a directory of this user's with mode 0700: made, or left by a crashed run."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        found = path.lstat()
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid():
            raise ListenerError(f"{path} exists and is not a directory of cosid's") from None
    except OSError as error:
        raise ListenerError(f"cannot make the relay directory {path}: {error.strerror}") from None
    os.chmod(path, 0o700)


class Activation:
    """The sockets systemd passed, matched to the configured listeners."""

    def __init__(self, inherited: Sequence[Inherited]) -> None:
        self._inherited = tuple(inherited)
        self._relays: list[RelayedListener] = []

    @classmethod
    def from_environment(cls) -> Activation:
        return cls(inherited_sockets())

    def adopt(self, listeners: Sequence[AnyListener]) -> list[AnyListener | RelayedListener]:
        """Each listener, or a relay in place of a unix one whose socket systemd passed. Raises
        ListenerError when a passed socket is no listener's (see the module's docstring)."""
        passed = {_canonical(inherited.path): inherited for inherited in self._inherited}
        adopted: list[AnyListener | RelayedListener] = []
        for listener in listeners:
            relay = self._relay(listener, passed) if isinstance(listener, UnixListener) else None
            adopted.append(listener if relay is None else relay)
        if passed:
            unlisted = ", ".join(f"{i.path} ({i.name})" for i in passed.values())
            raise ListenerError(
                f"systemd passed sockets the configuration does not list: {unlisted}; the socket "
                "unit's ListenStream= paths must be `listen` or `listeners` paths of the config"
            )
        return adopted

    def _relay(
        self, listener: UnixListener, passed: dict[Path, Inherited]
    ) -> RelayedListener | None:
        """A relay for `listener` when its socket is among `passed` (taken from there)."""
        inherited = passed.pop(_canonical(listener.path), None)
        if inherited is None:
            return None
        relay = RelayedListener(listener, inherited)
        self._relays.append(relay)
        log.info(
            "socket activated",
            path=str(listener.path),
            name=inherited.name,
            role=listener.role.value,
        )
        return relay

    async def start(self) -> None:
        """Serve every passed socket (once the gRPC servers listen)."""
        for relay in self._relays:
            await relay.start()

    def stop_accepting(self) -> None:
        """Leave new connections in the backlog, for the next start (at shutdown)."""
        for relay in self._relays:
            relay.stop_accepting()


def _canonical(path: Path) -> Path:
    """`path` with its directory's symlinks resolved (/var/run is /run), the name kept."""
    return Path(os.path.realpath(path.parent)) / path.name
