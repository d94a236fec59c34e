"""`cosictl gen`: a CA and certificates for a TCP listener, as files with safe modes, never
overwriting one; the certificates say what cosid reads (role, name, hosts)."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cosid.cli.main import main
from cosid.server.roles import Role
from cosid.server.tls import CallerCertificate
from tests.cli.process import cosictl


def gen(*args: str | Path) -> None:
    main(["gen", *(str(arg) for arg in args)])


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    gen("ca", "--out", tmp_path / "ca")
    return tmp_path / "ca"


def test_a_ca_signs_certificates_only(ca: Path) -> None:
    made = certificate(ca / "ca.crt")
    assert made.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert made.subject.rfc4514_string() == "CN=cosid CA"
    assert stat.S_IMODE((ca / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((ca / "ca.crt").stat().st_mode) == 0o644


def test_a_client_certificate_names_its_roles_and_name(ca: Path, tmp_path: Path) -> None:
    out = tmp_path / "clients"
    gen("cert", "--ca", ca, "--role", "reader", "--role", "operator", "--name", "ops", "--out", out)

    made = certificate(out / "ops.crt")
    assert made.subject.rfc4514_string() == "CN=ops,O=os:operator,O=os:reader"
    assert CallerCertificate.from_certificate(made) == CallerCertificate("ops", Role.OPERATOR)
    usage = made.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    made.verify_directly_issued_by(certificate(ca / "ca.crt"))
    assert stat.S_IMODE((out / "ops.key").stat().st_mode) == 0o600


def test_a_server_certificate_names_its_hosts(ca: Path, tmp_path: Path) -> None:
    out = tmp_path / "server"
    hosts = ("--host", "127.0.0.1", "--host", "node1.example.com")
    gen("cert", "--ca", ca, "--server", "--name", "cosid", *hosts, "--out", out)

    made = certificate(out / "cosid.crt")
    names = made.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["node1.example.com"]
    assert made.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "--name", "s"], "a server certificate needs at least one --host"),
        (["--role", "admin", "--host", "h", "--name", "c"], "--host is for a server certificate"),
    ],
)
def test_a_certificate_that_makes_no_sense_is_refused(
    ca: Path, tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        gen("cert", "--ca", ca, *args, "--out", tmp_path / "out")
    assert exited.value.code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_real_command_never_overwrites_a_file(ca: Path, tmp_path: Path) -> None:
    out = tmp_path / "clients"
    args = ["gen", "cert", "--ca", str(ca), "--role", "admin", "--name", "root", "--out", str(out)]
    first = cosictl(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [str(out / "root.crt"), str(out / "root.key")]
    written = (out / "root.key").read_bytes()

    again = cosictl(*args)

    assert again.returncode == 1
    assert again.stderr == f"cosictl: not overwriting {out / 'root.crt'} and {out / 'root.key'}\n"
    assert (out / "root.key").read_bytes() == written


def test_a_missing_ca_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        gen("cert", "--ca", tmp_path, "--role", "admin", "--name", "c", "--out", tmp_path)
    assert f"cannot read the CA: {tmp_path / 'ca.crt'}: No such file" in capsys.readouterr().err
