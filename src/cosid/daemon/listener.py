"""Where the daemon serves: unix sockets, claimed safely, created with their mode and group,
removed on exit, each carrying the role of everyone who can connect to it; and TCP addresses,
served with mutual TLS only, where each caller's role is its client certificate's.

A socket file left by a crashed run is replaced; one a live daemon still answers on is not,
so two daemons never fight over one socket.
"""

from __future__ import annotations

import errno
import grp
import os
import socket
import stat
from pathlib import Path

import grpc

from cosid.daemon.config import ListenerConfig, TlsConfig
from cosid.endpoint import unix_socket_path
from cosid.server.roles import Role
from cosid.server.tls import TlsFilesError, server_credentials
from cosid.tcp_endpoint import tcp_target


class ListenerError(Exception):
    """The socket cannot be used; the message says why."""


class UnixListener:
    roles_from_certificates = False
    """Every caller has `role`: the socket's mode and group say who can connect."""

    def __init__(self, path: Path, mode: int, group: str | None, role: Role) -> None:
        self.path = path
        self.mode = mode
        self.group = group
        self.role = role
        self.address = f"unix://{path}"

    def claim(self) -> None:
        """Make the path free: refuse if a daemon answers there, remove it if it is stale."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            raise ListenerError(f"{self.path} exists and is not a socket; not replacing it")
        if self._answers():
            raise ListenerError(f"another daemon is already serving on {self.path}")
        self.path.unlink()

    def _answers(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(str(self.path))
            except OSError as error:
                if error.errno in (errno.ECONNREFUSED, errno.ENOENT):
                    return False
                raise ListenerError(f"cannot probe {self.path}: {error}") from None
            return True

    def bind(self, server: grpc.aio.Server) -> None:
        """Bind with the umask closed to all but the owner's bits, so the socket is never
        reachable beyond its mode, nor by the daemon's group before it has its own."""
        gid = self._gid()
        previous = os.umask(0o777 & ~(self.mode & 0o700))
        try:
            server.add_insecure_port(self.address)
        except RuntimeError as error:
            raise ListenerError(f"cannot listen on {self.path}: {error}") from None
        finally:
            os.umask(previous)
        if gid is not None:
            os.chown(self.path, -1, gid)
        os.chmod(self.path, self.mode)

    def _gid(self) -> int | None:
        if self.group is None:
            return None
        try:
            return grp.getgrnam(self.group).gr_gid
        except KeyError:
            raise ListenerError(f"{self.path}: no group named {self.group!r}") from None

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


class TcpListener:
    roles_from_certificates = True
    """Each caller has its client certificate's role, at most `role`."""

    def __init__(self, address: str, tls: TlsConfig, role: Role) -> None:
        self.address = address
        self.tls = tls
        self.role = role
        self._credentials: grpc.ServerCredentials | None = None

    def claim(self) -> None:
        """Load the certificate, key and client CAs, so a bad file stops the start early."""
        try:
            self._credentials = server_credentials(self.tls.cert, self.tls.key, self.tls.client_ca)
        except TlsFilesError as error:
            raise ListenerError(f"{self.address}: {error}") from None

    def bind(self, server: grpc.aio.Server) -> None:
        assert self._credentials is not None, "claimed first"
        try:
            server.add_secure_port(tcp_target(self.address), self._credentials)
        except RuntimeError as error:
            raise ListenerError(f"cannot listen on {self.address}: {error}") from None

    def release(self) -> None:
        """Nothing to remove: the port closes with its server."""


def listener_of(config: ListenerConfig) -> UnixListener | TcpListener:
    """The TCP listeners are the ones with TLS: `ListenerConfig` refuses any other."""
    if config.tls is not None:
        return TcpListener(config.listen, config.tls, config.role)
    return UnixListener(unix_socket_path(config.listen), config.mode, config.group, config.role)
