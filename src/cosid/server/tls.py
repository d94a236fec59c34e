"""Mutual TLS on TCP listeners: the server's credentials, and who a caller is by its certificate.

A unix socket's mode and group say who may connect, so every caller on it has the socket's
role. TCP has no such gate, so a TCP listener accepts only clients whose certificate a
configured CA signed (the TLS handshake refuses every other client, plain ones included), and
each caller's role is named by its certificate: an organisation (O) of `os:reader`,
`os:operator` or `os:admin`, the highest if it names several.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID

from cosid.server.roles import Role

ROLE_ORGANISATION_PREFIX = "os:"
PEER_CERTIFICATE_KEY = "x509_pem_cert"
"""Where gRPC's auth context holds the client's certificate (PEM)."""

Parsed = TypeVar("Parsed")


class TlsFilesError(Exception):
    """A certificate, key or CA bundle that cannot be used; the message names the file."""


def role_organisation(role: Role) -> str:
    """The organisation a client certificate names to have `role`: `os:operator`."""
    return f"{ROLE_ORGANISATION_PREFIX}{role.value}"


def role_named_by(organisations: Iterable[str]) -> Role | None:
    """The highest role the organisations name (others are ignored); None if they name none."""
    by_organisation = {role_organisation(role): role for role in Role}
    named = [by_organisation[o] for o in organisations if o in by_organisation]
    return max(named, default=None)


@dataclass(frozen=True, slots=True)
class CallerCertificate:
    """What cosid reads from a client certificate."""

    common_name: str
    role: Role | None
    """The highest role its organisations name; None: it names none, and may call nothing."""

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> CallerCertificate:
        subject = certificate.subject
        return cls(
            common_name=", ".join(_attributes(subject, NameOID.COMMON_NAME)),
            role=role_named_by(_attributes(subject, NameOID.ORGANIZATION_NAME)),
        )


def _attributes(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


@functools.lru_cache(maxsize=1024)
def _parse(pem: bytes) -> CallerCertificate:
    """Cached: a client sends the same certificate with every call of its connection."""
    return CallerCertificate.from_certificate(x509.load_pem_x509_certificate(pem))


def caller_certificate(context: grpc.aio.ServicerContext[Any, Any]) -> CallerCertificate | None:
    """The client certificate of the call; None on a unix socket (no TLS)."""
    pems = context.auth_context().get(PEER_CERTIFICATE_KEY)
    return _parse(next(iter(pems))) if pems else None


def describe_peer(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The peer as gRPC knows it, with the certificate's common name on TCP (for the audit
    line: the address alone does not say who called)."""
    certificate = caller_certificate(context)
    if certificate is None:
        return context.peer()
    return f"{context.peer()} CN={certificate.common_name}"


def server_credentials(cert: Path, key: Path, client_ca: Path) -> grpc.ServerCredentials:
    """Credentials that make the TLS handshake demand a client certificate signed by a CA of
    `client_ca`; the files are checked first, so a bad one stops the daemon with its name."""
    cert_pem, key_pem, ca_pem = (_read(path) for path in (cert, key, client_ca))
    chain = _parse_file(cert, cert_pem, x509.load_pem_x509_certificates)
    private_key = _parse_file(key, key_pem, lambda pem: load_pem_private_key(pem, None))
    _parse_file(client_ca, ca_pem, x509.load_pem_x509_certificates)
    if chain[0].public_key() != private_key.public_key():
        raise TlsFilesError(f"{key} is not the key of the certificate {cert}")
    return grpc.ssl_server_credentials(
        [(key_pem, cert_pem)], root_certificates=ca_pem, require_client_auth=True
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TlsFilesError(f"cannot read {path}: {error.strerror}") from None


def _parse_file(path: Path, pem: bytes, parse: Callable[[bytes], Parsed]) -> Parsed:
    try:
        return parse(pem)
    except (ValueError, TypeError) as error:
        raise TlsFilesError(f"{path} is not a usable PEM file: {error}") from None
