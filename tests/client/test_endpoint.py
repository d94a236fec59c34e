"""Which endpoint a client dials: explicit, else $COSID_ENDPOINT, else the system socket; and
that TCP is dialled only with mutual TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosid.client import (
    DEFAULT_ENDPOINT,
    ENDPOINT_ENV,
    ClientTls,
    EndpointError,
    dial,
    resolve_endpoint,
)


def test_explicit_endpoint_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, "unix:///tmp/from-env.sock")
    assert resolve_endpoint("unix:/tmp/explicit.sock") == "unix:///tmp/explicit.sock"
    assert resolve_endpoint() == "unix:///tmp/from-env.sock"


def test_default_is_the_system_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    assert resolve_endpoint() == DEFAULT_ENDPOINT == "unix:///run/cosid/cosid.sock"


@pytest.mark.parametrize("endpoint", ["unix:/tmp/x.sock", "unix:///tmp/x.sock", "/tmp/x.sock"])
def test_every_spelling_of_a_socket_path_is_dialled_alike(endpoint: str) -> None:
    assert resolve_endpoint(endpoint) == "unix:///tmp/x.sock"


@pytest.mark.parametrize("endpoint", ["localhost:50051", "unix://", "x.sock"])
def test_an_address_without_tcp_scheme_is_taken_for_a_socket(endpoint: str) -> None:
    with pytest.raises(EndpointError, match="is not a unix socket"):
        resolve_endpoint(endpoint)


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:50051", "tcp://[::1]:1", "tcp://node:7"])
def test_tcp_endpoints_are_dialled_as_given(endpoint: str) -> None:
    assert resolve_endpoint(endpoint) == endpoint


@pytest.mark.parametrize("endpoint", ["tcp://node", "tcp://node:0", "tcp://:1", "tcp://n:1/x"])
def test_a_malformed_tcp_endpoint_is_refused_before_dialling(endpoint: str) -> None:
    with pytest.raises(EndpointError, match=r"is not a TCP address \(tcp://host:port\)"):
        resolve_endpoint(endpoint)


def test_tcp_is_never_dialled_without_certificates() -> None:
    with pytest.raises(EndpointError, match="only with mutual TLS: give --cert, --key and --ca"):
        dial("tcp://127.0.0.1:50051")


def test_a_socket_is_dialled_without_tls_even_with_certificates(tmp_path: Path) -> None:
    unused = ClientTls(tmp_path / "absent.crt", tmp_path / "absent.key", tmp_path / "ca.crt")
    dial("unix:///tmp/x.sock", unused).close()  # the files are never read
