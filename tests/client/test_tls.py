"""Which certificate files a client uses: the flags, else the environment, all three or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosid.client import ClientTls, ClientTlsError, resolve_tls
from cosid.client.tls import CA_ENV, CERT_ENV, KEY_ENV

FILES = (Path("c.crt"), Path("c.key"), Path("ca.crt"))


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CERT_ENV, "env.crt")
    monkeypatch.setenv(KEY_ENV, "env.key")
    monkeypatch.setenv(CA_ENV, "env-ca.crt")


def test_the_flags_win_over_the_environment() -> None:
    assert resolve_tls(*FILES) == ClientTls(*FILES)


def test_without_flags_the_environment_names_the_files() -> None:
    assert resolve_tls() == ClientTls(Path("env.crt"), Path("env.key"), Path("env-ca.crt"))


def test_with_neither_there_are_none(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (CERT_ENV, KEY_ENV, CA_ENV):
        monkeypatch.delenv(name)
    assert resolve_tls() is None


def test_some_flags_without_the_others_are_refused() -> None:
    with pytest.raises(ClientTlsError, match=r"go together; missing: --key, --ca"):
        resolve_tls(cert=FILES[0])


def test_some_variables_without_the_others_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CA_ENV)
    with pytest.raises(ClientTlsError, match=r"missing: \$COSID_CA"):
        resolve_tls()


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    absent = tmp_path / "absent.crt"
    with pytest.raises(ClientTlsError, match=f"cannot read {absent}"):
        ClientTls(absent, absent, absent).credentials()
