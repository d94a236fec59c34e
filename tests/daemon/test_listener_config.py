"""The `listeners` of the daemon config: unix sockets with a role, or TCP with mutual TLS only,
refused at load when they would be anything else; and a TCP listener whose files are unusable
stopping the start with the file's name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cosid.cli.pki import make_ca, make_server_certificate
from cosid.daemon.config import ConfigError, TlsConfig, load_config
from cosid.daemon.listener import ListenerError, TcpListener, UnixListener, listener_of
from cosid.server.roles import Role

TLS = {"cert": "/etc/cosid/server.crt", "key": "/etc/cosid/server.key", "client_ca": "/ca.crt"}


def listeners(*entries: dict[str, Any]) -> tuple[UnixListener | TcpListener, ...]:
    config = load_config(None, {"listeners": list(entries)})
    return tuple(listener_of(entry) for entry in config.all_listeners)


def test_a_tcp_listener_with_mutual_tls_is_served_by_certificate() -> None:
    admin, tcp = listeners({"listen": "tcp://127.0.0.1:50051", "role": "operator", "tls": TLS})

    assert isinstance(admin, UnixListener)
    assert not admin.roles_from_certificates
    assert isinstance(tcp, TcpListener)
    assert tcp.roles_from_certificates
    assert (tcp.address, tcp.role) == ("tcp://127.0.0.1:50051", Role.OPERATOR)
    assert tcp.tls == TlsConfig.model_validate(TLS)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"listen": "tcp://127.0.0.1:50051", "role": "admin"},
            "TCP is served only with mutual TLS; give tls with cert, key and client_ca",
        ),
        (
            {"listen": "tcp://127.0.0.1:50051", "role": "admin", "tls": {**TLS, "client_ca": None}},
            "client_ca is required: TCP is served only with mutual TLS",
        ),
        (
            {"listen": "tcp://0.0.0.0:1", "role": "admin", "tls": TLS, "mode": 0o600},
            "mode: only unix sockets have a mode and group",
        ),
        (
            {"listen": "unix:///run/x.sock", "role": "reader", "tls": TLS},
            "tls is for TCP listeners",
        ),
        ({"listen": "tcp://127.0.0.1", "role": "admin", "tls": TLS}, "is not a TCP address"),
        ({"listen": "127.0.0.1:50051", "role": "admin", "tls": TLS}, "is not a unix socket"),
    ],
)
def test_anything_but_mutual_tls_on_tcp_is_refused(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"listeners\.0") as refused:
        listeners(entry)
    assert message in str(refused.value)


def test_a_listener_listed_twice_is_refused() -> None:
    tcp = {"listen": "tcp://127.0.0.1:50051", "role": "admin", "tls": TLS}
    with pytest.raises(
        ConfigError, match=re.escape("listed more than once: tcp://127.0.0.1:50051")
    ):
        listeners(tcp, {**tcp, "role": "reader"})
    with pytest.raises(ConfigError, match=re.escape("listed more than once: unix:///run/x.sock")):
        listeners(
            {"listen": "unix:///run/x.sock", "role": "reader"},
            {"listen": "/run/x.sock", "role": "admin"},
        )


def tcp_listener(tmp_path: Path, **files: Path) -> TcpListener:
    ca = make_ca("test CA")
    server = make_server_certificate(ca, "cosid", ["127.0.0.1"])
    paths = {name: tmp_path / name for name in ("cert", "key", "client_ca")}
    paths["cert"].write_bytes(server.certificate_pem())
    paths["key"].write_bytes(server.key_pem())
    paths["client_ca"].write_bytes(ca.certificate_pem())
    tls = TlsConfig.model_validate({**paths, **files})
    return TcpListener("tcp://127.0.0.1:50051", tls, Role.ADMIN)


def test_usable_files_are_claimed(tmp_path: Path) -> None:
    tcp_listener(tmp_path).claim()


def test_an_unreadable_file_stops_the_start(tmp_path: Path) -> None:
    absent = tmp_path / "absent.crt"
    with pytest.raises(ListenerError, match=f"cannot read {absent}"):
        tcp_listener(tmp_path, cert=absent).claim()


def test_a_file_that_is_not_pem_stops_the_start(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ListenerError, match=f"{garbage} is not a usable PEM file"):
        tcp_listener(tmp_path, client_ca=garbage).claim()


def test_a_key_of_another_certificate_stops_the_start(tmp_path: Path) -> None:
    other_key = tmp_path / "other.key"
    other_key.write_bytes(make_ca("another").key_pem())
    with pytest.raises(ListenerError, match=f"{other_key} is not the key of the certificate"):
        tcp_listener(tmp_path, key=other_key).claim()
