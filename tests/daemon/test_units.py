"""The systemd units as shipped in systemd/: systemd's own tools accept them (in a private root,
never the host's), and the example configuration agrees with the socket units on every path,
role, mode and group."""

from __future__ import annotations

import configparser
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from cosid.daemon.config import load_config
from cosid.endpoint import unix_socket_path

SYSTEMD = Path(__file__).parents[2] / "systemd"
UNITS = ("cosid.service", "cosid.socket", "cosid-operator.socket")
SOCKETS = ("cosid.socket", "cosid-operator.socket")
DISTRIBUTION_UNITS = Path("/usr/lib/systemd/system")


def needs(tool: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} is not installed")


def unit(name: str) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser(interpolation=None, strict=False)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parsed.read(SYSTEMD / name)
    return parsed


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


@needs("systemd-analyze")
@pytest.mark.skipif(not DISTRIBUTION_UNITS.is_dir(), reason=f"no {DISTRIBUTION_UNITS}")
def test_systemd_verifies_the_units(tmp_path: Path) -> None:
    """In a private root holding the distribution's units (the targets ours name) and stand-ins
    for the programs ExecStart= and ExecReload= run, which verify checks exist."""
    shutil.copytree(DISTRIBUTION_UNITS, tmp_path / "usr/lib/systemd/system", symlinks=True)
    for program in ("usr/bin/cosid", "bin/kill"):
        (tmp_path / program).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / program).write_text("#!/bin/sh\n")
        (tmp_path / program).chmod(0o755)
    installed = tmp_path / "etc/systemd/system"
    installed.mkdir(parents=True)
    for name in UNITS:
        shutil.copy(SYSTEMD / name, installed / name)

    verified = run(
        "systemd-analyze",
        "verify",
        f"--root={tmp_path}",
        "--man=no",
        "--generators=no",
        *(str(installed / name) for name in UNITS),
    )

    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


@needs("systemd-sysusers")
@needs("systemd-tmpfiles")
def test_sysusers_and_tmpfiles_make_the_group_and_directories(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    for database in ("passwd", "group"):
        (tmp_path / "etc" / database).touch()
    for kind, name in (("sysusers.d", "cosid.sysusers"), ("tmpfiles.d", "cosid.tmpfiles")):
        (tmp_path / "usr/lib" / kind).mkdir(parents=True)
        shutil.copy(SYSTEMD / name, tmp_path / "usr/lib" / kind / "cosid.conf")

    assert run("systemd-sysusers", f"--root={tmp_path}").returncode == 0
    assert run("systemd-tmpfiles", "--create", f"--root={tmp_path}").returncode == 0

    groups = [line.split(":")[0] for line in (tmp_path / "etc/group").read_text().splitlines()]
    assert groups == ["cosi"]
    for directory, mode in (("run/cosid", 0o755), ("var/lib/cosid", 0o700)):
        found = (tmp_path / directory).stat()
        assert (stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid) == (mode, 0, 0)


def test_the_example_config_lists_every_socket_unit_with_its_role_mode_and_group() -> None:
    config_path = SYSTEMD / "etc/cosid/config.yaml"
    config = load_config(config_path, {})
    listeners = {unix_socket_path(listener.listen): listener for listener in config.all_listeners}
    exec_start = unit("cosid.service")["Service"]["ExecStart"].split()
    groups = [
        line.split()[1]
        for line in (SYSTEMD / "cosid.sysusers").read_text().splitlines()
        if line.startswith("g ")
    ]

    assert exec_start == ["/usr/bin/cosid", "--config", "/etc/cosid/config.yaml"]
    assert config.state_dir == Path("/var/lib/cosid")
    for name in SOCKETS:
        socket = unit(name)["Socket"]
        listener = listeners.pop(Path(socket["ListenStream"]))
        assert listener.role.value == socket["FileDescriptorName"], name
        assert listener.mode == int(socket["SocketMode"], 8), name
        assert (listener.group or "root") == socket["SocketGroup"], name
        assert socket["SocketGroup"] in ("root", *groups), f"{name}: sysusers makes its group"
    assert listeners == {}, "every configured socket has its socket unit"


def test_the_service_is_confined_and_mounts_in_pid_1s_namespace() -> None:
    """The file-system confinement gives cosid a mount namespace of its own, so the example
    config has the mounts drivers work in PID 1's, which takes CAP_SYS_ADMIN, CAP_SYS_CHROOT
    (setns(2)) and CAP_SYS_PTRACE (opening PID 1's namespace file); everything cosid writes
    stays writable."""
    service = unit("cosid.service")["Service"]
    config = load_config(SYSTEMD / "etc/cosid/config.yaml", {})

    assert (service["ProtectSystem"], service["ProtectHome"], service["PrivateTmp"]) == (
        "strict",
        "yes",
        "yes",
    )
    assert service["ReadWritePaths"].split() == ["/etc", "/var/lib/cosid", "/run/cosid"]
    needed = {"CAP_SYS_ADMIN", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE"}
    assert needed <= set(service["CapabilityBoundingSet"].split())
    assert config.domains.mounts.namespace == "init"
