"""The daemon config's `domains` section: which driver each domain uses, its resync, boot-file
persistence, and what the daemon builds from them. (The root prefix is in test_sandbox.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cosid.daemon.config import ConfigError, load_config
from cosid.daemon.domains import build_domains
from cosid.resources import modules, sysctl


def resyncs(settings: dict[str, object]) -> dict[str, float | None]:
    """Each controller the daemon builds from these settings, with its resync."""
    domains = build_domains(load_config(None, settings))
    return {controller.name: controller.resync_seconds for controller in domains.controllers}


def test_every_domain_has_its_driver_and_the_top_level_resync_by_default() -> None:
    config = load_config(None, {})

    assert config.domains.sysctl.driver == "procfs"
    assert config.domains.sysctl.persist is False
    assert config.domains.hostname.driver == "kernel"
    assert config.domains.motd.driver == "file"
    by_default = resyncs({})
    assert set(by_default) == {  # no boot-file controllers: persistence is off
        "sysctl",
        "hostname",
        "motd",
        "dns",
        "link-resolvers",
        "modules",
        "mounts",
        "links",
        "addresses",
        "routes",
    }
    network = {by_default.pop(name) for name in ("links", "addresses", "routes")}
    assert network == {300.0}, "the kernel announces network changes: a safety net only"
    assert set(by_default.values()) == {60.0}
    assert set(resyncs({"resync_seconds": 5}).values()) == {5.0, 300.0}
    assert resyncs({"domains": {"network": {"resync_seconds": None}}})["routes"] is None


def test_a_domains_own_resync_overrides_the_top_level_one() -> None:
    settings: dict[str, object] = {
        "resync_seconds": 30,
        "domains": {
            "sysctl": {"resync_seconds": 2, "persist": True},
            "hostname": {"resync_seconds": None},
        },
    }

    resync = resyncs(settings)
    assert (resync.pop("sysctl"), resync.pop("sysctl-persist"), resync.pop("hostname")) == (
        2.0,
        2.0,
        None,
    )
    assert {resync.pop(name) for name in ("links", "addresses", "routes")} == {300.0}
    assert set(resync.values()) == {30.0}, "every other domain inherits the top level's"


def test_the_sysctl_d_controller_has_the_domains_resync_and_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "root: /srv/tree\n"
        "domains:\n"
        "  sysctl: {driver: procfs, persist: true, resync_seconds: 10}\n"
        "  hostname: {driver: kernel}\n"
        "  motd: {driver: file}\n"
    )

    domains = build_domains(load_config(path, {}))

    persisted = {c.name: c for c in domains.controllers}["sysctl-persist"]
    assert persisted.resync_seconds == 10.0
    assert persisted.watched_paths == (Path("/srv/tree/etc/sysctl.d/90-cosid.conf"),)


def test_the_modules_boot_files_controller_has_the_domains_resync_and_files() -> None:
    settings: dict[str, object] = {
        "root": "/srv/tree",
        "domains": {"modules": {"persist": True, "resync_seconds": 7}},
    }

    domains = build_domains(load_config(None, settings))

    persisted = {c.name: c for c in domains.controllers}["modules-persist"]
    assert persisted.resync_seconds == 7.0
    assert persisted.watched_paths == (
        Path("/srv/tree/etc/modules-load.d/cosid.conf"),
        Path("/srv/tree/etc/modprobe.d/cosid.conf"),
    )


@pytest.mark.parametrize(
    ("domains", "message"),
    [
        (
            {"sysctl": {"driver": "sysfs"}},
            "domains.sysctl.driver\n  Input should be 'procfs'",
        ),
        (
            {"hostname": {"driver": "networkd"}},
            "domains.hostname.driver\n  Input should be 'kernel' or 'hostnamed'",
        ),
        ({"motd": {"driver": "dbus"}}, "domains.motd.driver\n  Input should be 'file'"),
        (
            {"sysctl": {"persist": True, "path": "/etc/sysctl.d/x.conf"}},
            "domains.sysctl.path\n  Extra inputs are not permitted",
        ),
        ({"firewall": {"driver": "nft"}}, "domains.firewall\n  Extra inputs are not permitted"),
        (
            {"motd": {"resync_seconds": 0}},
            "domains.motd.resync_seconds\n  Input should be greater than 0",
        ),
    ],
)
def test_unusable_domain_settings_name_the_field(domains: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, {"domains": domains})


def test_hostnamed_is_refused_in_the_sandbox() -> None:
    with pytest.raises(ConfigError, match="hostnamed cannot run in a sandbox"):
        load_config(None, {"sandbox": True, "domains": {"hostname": {"driver": "hostnamed"}}})


def test_a_daemon_whose_hostnamed_is_unreachable_says_so_and_exits(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        f"listen: unix://{tmp_path / 's.sock'}\n"
        "domains: {hostname: {driver: hostnamed}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "cosid.daemon.main", "--config", str(config)],
        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "cosid: domains.hostname.driver is hostnamed, but org.freedesktop.hostname1" in (
        done.stderr
    )
    assert not (tmp_path / "s.sock").exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"netns": "a/b"}, "netns\n  String should match pattern"),
        ({"netns": ".."}, "netns '..' is not a namespace name"),
        ({"netns": "blue", "sandbox": True}, "netns and sandbox both choose"),
    ],
)
def test_unusable_network_namespaces_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, settings)


def test_with_persistence_off_the_boot_file_controllers_are_retirements() -> None:
    domains = build_domains(load_config(None, {"root": "/srv/tree"}))

    assert [(r.name, r.specs) for r in domains.retirements] == [
        ("sysctl-persist", sysctl.SPECS),
        ("modules-persist", modules.SPECS),
    ]
