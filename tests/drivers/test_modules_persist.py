"""The boot-time files: exact content, atomic replacement, and nothing a value could smuggle."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosid.drivers.modules.persist import HEADER, ModuleBootFiles


@pytest.fixture
def files(tmp_path: Path) -> ModuleBootFiles:
    return ModuleBootFiles(tmp_path)


def test_writes_sorted_names_and_options_lines(tmp_path: Path, files: ModuleBootFiles) -> None:
    changed = files.write(
        ["rtnl-link-vlan", "dummy", "bonding"],
        {"bonding": {"mode": "active-backup", "max_bonds": "0"}, "dummy": {}},
    )

    assert changed
    assert files.paths == (
        tmp_path / "etc" / "modules-load.d" / "cosid.conf",
        tmp_path / "etc" / "modprobe.d" / "cosid.conf",
    )
    assert files.modules_load.read_text() == HEADER + "bonding\ndummy\nrtnl_link_vlan\n"
    assert files.modprobe.read_text() == HEADER + "options bonding mode=active-backup max_bonds=0\n"
    for path in files.paths:
        assert path.stat().st_mode & 0o777 == 0o644


def test_the_same_content_leaves_the_files_alone(files: ModuleBootFiles) -> None:
    assert files.write(["dummy"], {"dummy": {"numdummies": "2"}})
    inodes = [path.stat().st_ino for path in files.paths]

    assert not files.write(["dummy"], {"dummy": {"numdummies": "2"}})
    assert [path.stat().st_ino for path in files.paths] == inodes

    assert files.write(["dummy"], {"dummy": {"numdummies": "3"}})
    assert files.modules_load.stat().st_ino == inodes[0]
    assert files.modprobe.stat().st_ino != inodes[1], "a change is a new file renamed into place"


def test_nothing_to_say_removes_the_files(files: ModuleBootFiles) -> None:
    assert not files.write([], {})
    files.write(["bonding"], {"bonding": {"max_bonds": "0"}})

    assert files.write(["bonding"], {})
    assert files.modules_load.exists()
    assert not files.modprobe.exists()

    assert files.write([], {})
    assert not files.modules_load.exists()
    assert sorted(p.name for p in files.modules_load.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("load", "options", "message"),
    [
        (["../etc/passwd"], {}, "must not contain '/'"),
        (["dummy\nbonding"], {}, "letters, digits"),
        (["dummy"], {"dummy": {"numdummies": "1\ninstall dummy /bin/sh"}}, "printable ASCII"),
        (["dummy"], {"dummy x": {"a": "1"}}, "letters, digits"),
    ],
    ids=["traversal", "second-line", "injected-install", "bad-module"],
)
def test_invalid_input_changes_nothing(
    files: ModuleBootFiles, load: list[str], options: dict[str, dict[str, str]], message: str
) -> None:
    files.write(["dummy"], {})
    before = files.modules_load.read_bytes()
    with pytest.raises(ValueError, match=message):
        files.write(load, options)
    assert files.modules_load.read_bytes() == before
    assert not files.modprobe.exists()
