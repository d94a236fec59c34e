"""A client's side of mutual TLS: its certificate and key, and the CA that signed the daemon's.

A TCP endpoint is dialled only with all three (from the flags, else from $COSID_CERT, $COSID_KEY
and $COSID_CA); a unix socket needs none, and ignores them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import grpc

CERT_ENV = "COSID_CERT"
KEY_ENV = "COSID_KEY"
CA_ENV = "COSID_CA"
ENVIRONMENT = (CERT_ENV, KEY_ENV, CA_ENV)


class ClientTlsError(Exception):
    """Certificate files missing, partial or unreadable; the message says which."""


@dataclass(frozen=True, slots=True)
class ClientTls:
    cert: Path
    """The client's certificate: its organisation names the caller's role (`os:operator`)."""
    key: Path
    ca: Path
    """The CA bundle the daemon's certificate must be signed by."""

    def credentials(self) -> grpc.ChannelCredentials:
        cert, key, ca = (_read(path) for path in (self.cert, self.key, self.ca))
        return grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )


def resolve_tls(
    cert: Path | None = None, key: Path | None = None, ca: Path | None = None
) -> ClientTls | None:
    """The files given, else those the environment names; None when neither names any."""
    sources: tuple[str, ...] = ("--cert", "--key", "--ca")
    if cert is None and key is None and ca is None:
        cert, key, ca = (_env_path(name) for name in ENVIRONMENT)
        sources = tuple(f"${name}" for name in ENVIRONMENT)
    if cert is None and key is None and ca is None:
        return None
    if cert is None or key is None or ca is None:
        missing = [
            source for source, path in zip(sources, (cert, key, ca), strict=True) if path is None
        ]
        raise ClientTlsError(f"{', '.join(sources)} go together; missing: {', '.join(missing)}")
    return ClientTls(cert, key, ca)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ClientTlsError(f"cannot read {path}: {error.strerror}") from None
