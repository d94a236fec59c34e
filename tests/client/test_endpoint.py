"""Which endpoint a client dials: explicit, else $COSID_ENDPOINT, else the system socket."""

from __future__ import annotations

import pytest

from cosid.client import DEFAULT_ENDPOINT, ENDPOINT_ENV, EndpointError, resolve_endpoint


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


@pytest.mark.parametrize("endpoint", ["localhost:50051", "tcp://[::1]:1", "unix://", "x.sock"])
def test_only_unix_socket_endpoints_are_dialled(endpoint: str) -> None:
    with pytest.raises(EndpointError, match="is not a unix socket"):
        resolve_endpoint(endpoint)
