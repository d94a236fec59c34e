"""`cosictl gen`: make the files of a PKI for a TCP listener (see `cosid.cli.pki`).

`gen ca --out DIR` writes DIR/ca.crt and DIR/ca.key; `gen cert --ca DIR --name NAME --out DIR`
writes DIR/NAME.crt and DIR/NAME.key, signed by DIR/ca.*: a client's with `--role` (one or
more), a daemon's with `--server` and a `--host` per name or address clients dial. Keys are
created 0600, and no file is ever overwritten: a key that exists may be in use.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from cosid.cli.pki import (
    CA_DAYS,
    CERT_DAYS,
    KeyPair,
    make_ca,
    make_client_certificate,
    make_server_certificate,
)
from cosid.server.roles import Role

CA_NAME = "ca"
"""The CA's files in its directory: ca.crt and ca.key."""
KEY_MODE = 0o600
CERTIFICATE_MODE = 0o644


class GenError(Exception):
    """Files that cannot be read or written; the message names them."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`gen ca` and `gen cert`, under the command `gen`."""
    gen = commands.add_parser("gen", help="make a CA and certificates for a TCP listener")
    kinds = gen.add_subparsers(dest="kind", required=True, metavar="KIND")
    ca = kinds.add_parser("ca", help="a CA: OUT/ca.crt and OUT/ca.key")
    ca.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write")
    ca.add_argument("--name", default="cosid CA", help="its common name (default: cosid CA)")
    ca.add_argument(
        "--days", type=_days, default=CA_DAYS, help=f"days it is valid (default: {CA_DAYS})"
    )
    cert = kinds.add_parser("cert", help="a certificate signed by a CA: OUT/NAME.crt and .key")
    cert.add_argument(
        "--ca", dest="ca_dir", type=Path, required=True, metavar="DIR", help="the CA's directory"
    )
    cert.add_argument("--name", type=_file_name, required=True, help="common name and file name")
    cert.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write")
    purpose = cert.add_mutually_exclusive_group(required=True)
    purpose.add_argument(
        "--role",
        type=Role,
        action="append",
        choices=list(Role),
        metavar="{" + ",".join(role.value for role in Role) + "}",
        help="a client certificate with this role (repeatable: the highest counts)",
    )
    purpose.add_argument("--server", action="store_true", help="a daemon's certificate")
    cert.add_argument(
        "--host", action="append", default=[], help="a name or address of the daemon (--server)"
    )
    cert.add_argument(
        "--days", type=_days, default=CERT_DAYS, help=f"days it is valid (default: {CERT_DAYS})"
    )


def generate(args: argparse.Namespace, stdout: TextIO) -> None:
    """Write the files `args` ask for, and print their paths."""
    if args.kind == "ca":
        written = write_pair(make_ca(args.name, args.days), args.out, CA_NAME)
    else:
        ca = read_ca(args.ca_dir)
        if args.server:
            if not args.host:
                raise GenError("a server certificate needs at least one --host")
            pair = make_server_certificate(ca, args.name, args.host, args.days)
        else:
            if args.host:
                raise GenError("--host is for a server certificate (--server)")
            pair = make_client_certificate(ca, args.name, args.role, args.days)
        written = write_pair(pair, args.out, args.name)
    for path in written:
        print(path, file=stdout)


def read_ca(directory: Path) -> KeyPair:
    """The CA of `gen ca --out directory`."""
    certificate_path, key_path = _pair_paths(directory, CA_NAME)
    try:
        certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
        key = load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as error:
        raise GenError(f"cannot read the CA: {error.filename}: {error.strerror}") from None
    except ValueError as error:
        raise GenError(f"cannot read the CA in {directory}: {error}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise GenError(f"{key_path} is not an ECDSA key (not made by cosictl gen ca)")
    return KeyPair(certificate, key)


def write_pair(pair: KeyPair, directory: Path, name: str) -> Sequence[Path]:
    """DIR/NAME.crt and DIR/NAME.key, neither of which may exist yet."""
    certificate_path, key_path = paths = _pair_paths(directory, name)
    existing = [str(path) for path in paths if path.exists()]
    if existing:
        raise GenError(f"not overwriting {' and '.join(existing)}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_new(key_path, pair.key_pem(), KEY_MODE)
        _write_new(certificate_path, pair.certificate_pem(), CERTIFICATE_MODE)
    except OSError as error:
        raise GenError(f"cannot write {error.filename}: {error.strerror}") from None
    return paths


def _pair_paths(directory: Path, name: str) -> tuple[Path, Path]:
    return directory / f"{name}.crt", directory / f"{name}.key"


def _write_new(path: Path, content: bytes, mode: int) -> None:
    """Created with its mode (never readable by others, not even for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), mode)  # the umask may have taken bits the mode asks for
        file.write(content)


def _days(text: str) -> int:
    days = int(text)
    if days < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return days


def _file_name(text: str) -> str:
    if not text or text.startswith(".") or "/" in text or "\0" in text:
        raise argparse.ArgumentTypeError(f"{text!r} cannot be a file name")
    return text
