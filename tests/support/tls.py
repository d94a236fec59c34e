"""A test PKI made by `cosictl gen` (run in this process): a CA, the daemon's certificate for
127.0.0.1 and localhost, a client certificate per role, and the certificates the daemon must
refuse (another CA's, one naming no role)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from cosid.cli.gen import read_ca, write_pair
from cosid.cli.main import main as cosictl
from cosid.cli.pki import make_client_certificate
from cosid.client import ClientTls
from cosid.server.roles import Role

SERVER_HOSTS = ("127.0.0.1", "localhost")
NO_ROLE = "nobody"
"""A client certificate of the right CA whose subject names no role."""
SEVERAL_ROLES = "reader-and-operator"
OTHER_CA_ADMIN = "other-ca-admin"
"""An admin certificate signed by a CA the daemon does not trust."""


@dataclass(frozen=True)
class Pki:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca"

    @property
    def server(self) -> Path:
        return self.directory / "server"

    @property
    def clients(self) -> Path:
        return self.directory / "clients"

    def listener_tls(self) -> dict[str, str]:
        """The `tls` of a TCP listener in the daemon's configuration."""
        return {
            "cert": str(self.server / "cosid.crt"),
            "key": str(self.server / "cosid.key"),
            "client_ca": str(self.ca / "ca.crt"),
        }

    def client(self, name: str) -> ClientTls:
        """The files of the client certificate `name` (a role's value for a role's)."""
        return ClientTls(
            self.clients / f"{name}.crt", self.clients / f"{name}.key", self.ca / "ca.crt"
        )

    def credentials(self, name: str) -> grpc.ChannelCredentials:
        return self.client(name).credentials()

    def server_only_credentials(self) -> grpc.ChannelCredentials:
        """One-way TLS: the client checks the daemon, but shows no certificate of its own."""
        return grpc.ssl_channel_credentials(root_certificates=(self.ca / "ca.crt").read_bytes())


def make_pki(directory: Path) -> Pki:
    pki = Pki(directory)
    cosictl(["gen", "ca", "--out", str(pki.ca)])
    hosts = [flag for host in SERVER_HOSTS for flag in ("--host", host)]
    server = ["--server", "--name", "cosid", *hosts]
    cosictl(["gen", "cert", "--ca", str(pki.ca), *server, "--out", str(pki.server)])
    for role in Role:
        _client(pki.ca, pki.clients, role.value, "--role", role.value)
    _client(pki.ca, pki.clients, SEVERAL_ROLES, "--role", "reader", "--role", "operator")
    other_ca = directory / "other-ca"
    cosictl(["gen", "ca", "--out", str(other_ca), "--name", "another CA"])
    _client(other_ca, pki.clients, OTHER_CA_ADMIN, "--role", "admin")
    no_role = make_client_certificate(read_ca(pki.ca), NO_ROLE, roles=())  # cosictl needs one
    write_pair(no_role, pki.clients, NO_ROLE)
    return pki


def _client(ca: Path, out: Path, name: str, *roles: str) -> None:
    cosictl(["gen", "cert", "--ca", str(ca), "--name", name, *roles, "--out", str(out)])
