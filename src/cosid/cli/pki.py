"""A small PKI for cosid's TCP listeners: a CA, client certificates naming a role, and server
certificates naming the hosts clients dial.

Keys are ECDSA P-256, which both gRPC's TLS (BoringSSL) and grpcurl's (Go) accept. A client
certificate's role is an organisation (O) of its subject, `os:<role>`: what
`cosid.server.tls` reads back.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cosid.server.roles import Role
from cosid.server.tls import role_organisation

CA_DAYS = 3650
CERT_DAYS = 365
CLOCK_SKEW = datetime.timedelta(minutes=5)
"""Certificates are valid from a little before now, so a peer whose clock is behind accepts them."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def make_ca(name: str, days: int = CA_DAYS) -> KeyPair:
    """A self-signed CA that may sign end certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        _valid_for(x509.CertificateBuilder(), days)
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return KeyPair(builder.sign(key, hashes.SHA256()), key)


def make_client_certificate(
    ca: KeyPair, name: str, roles: Sequence[Role], days: int = CERT_DAYS
) -> KeyPair:
    """A certificate for a client called `name` (CN), with an organisation per role."""
    subject = [
        *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, role_organisation(r)) for r in roles),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ]
    return _issue(ca, x509.Name(subject), days, ExtendedKeyUsageOID.CLIENT_AUTH, [])


def make_server_certificate(
    ca: KeyPair, name: str, hosts: Sequence[str], days: int = CERT_DAYS
) -> KeyPair:
    """A certificate for a daemon reached as any of `hosts` (names or IP addresses)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return _issue(ca, subject, days, ExtendedKeyUsageOID.SERVER_AUTH, hosts)


def _issue(
    ca: KeyPair,
    subject: x509.Name,
    days: int,
    usage: x509.ObjectIdentifier,
    hosts: Sequence[str],
) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _valid_for(x509.CertificateBuilder(), days)
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if hosts:
        names = x509.SubjectAlternativeName([_general_name(host) for host in hosts])
        builder = builder.add_extension(names, critical=False)
    return KeyPair(builder.sign(ca.key, hashes.SHA256()), key)


def _valid_for(builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        builder.serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
