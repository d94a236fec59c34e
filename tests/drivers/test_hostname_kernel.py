"""The kernel hostname driver against the real sethostname(2) and setdomainname(2) of a fresh
UTS namespace (a worker thread's own: the host's names never move), and /etc/hostname under a
private root prefix.

The `hostname` and `domainname` tools, run in the same namespace, witness every kernel write;
os.uname() on the worker is a second witness.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosid.drivers.hostname import (
    HostnameInvalidNameError,
    HostnamePermissionError,
    HostnameReadError,
    HostnameState,
    HostnameSymlinkError,
    HostnameWriteError,
)
from cosid.drivers.hostname.driver import HostnameDriver
from cosid.drivers.hostname.kernel import KernelHostnameDriver
from tests.drivers.uts import (
    CAP_DAC_OVERRIDE,
    CAP_SYS_ADMIN,
    UtsNamespace,
    guarded_uts,
    set_in,
)

NOBODY = 65534


def as_driver(driver: KernelHostnameDriver) -> HostnameDriver:
    """Never called: mypy checks here that the kernel driver implements the Protocol."""
    return driver


@pytest.fixture
def uts() -> Iterator[UtsNamespace]:
    with guarded_uts() as namespace:
        yield namespace


@pytest.fixture
def driver(tmp_path: Path) -> KernelHostnameDriver:
    (tmp_path / "etc").mkdir()
    return KernelHostnameDriver(tmp_path)


def hostname_file(driver: KernelHostnameDriver) -> Path:
    return driver.root / "etc" / "hostname"


def leftovers(driver: KernelHostnameDriver) -> list[str]:
    return sorted(name for name in os.listdir(driver.root / "etc") if name != "hostname")


# --- the kernel, in a fresh UTS namespace ------------------------------------------------------


def test_write_sets_the_kernels_names_and_the_file(
    uts: UtsNamespace, driver: KernelHostnameDriver
) -> None:
    assert uts.witness() != ("web-01.example.com", "corp")

    uts.run(driver.write("web-01.example.com", "corp"))

    assert uts.uname() == ("web-01.example.com", "corp")
    assert uts.witness() == ("web-01.example.com", "corp")
    assert hostname_file(driver).read_text() == "web-01.example.com\n"
    assert uts.run(driver.read()) == HostnameState(
        hostname="web-01.example.com", domain="corp", file="web-01.example.com\n"
    )
    assert leftovers(driver) == []


def test_no_domain_leaves_the_kernels_domain_name(
    uts: UtsNamespace, driver: KernelHostnameDriver
) -> None:
    uts.run(driver.write("first", "corp"))
    uts.run(driver.write("second", None))
    assert uts.witness() == ("second", "corp")


def test_read_sees_a_name_set_behind_its_back(
    uts: UtsNamespace, driver: KernelHostnameDriver
) -> None:
    set_in(uts, "set-by-the-tool")
    state = uts.run(driver.read())
    assert state.hostname == "set-by-the-tool"
    assert state.domain == uts.witness()[1]


def test_read_reports_a_missing_file_as_none_and_a_file_verbatim(
    uts: UtsNamespace, driver: KernelHostnameDriver
) -> None:
    assert uts.run(driver.read()).file is None
    hostname_file(driver).write_text("# set by the installer\nnode-7\n")
    assert uts.run(driver.read()).file == "# set by the installer\nnode-7\n"


def test_the_longest_name_the_kernel_takes(uts: UtsNamespace, driver: KernelHostnameDriver) -> None:
    name = "a" * 63 + "b"
    uts.run(driver.write(name, name))
    assert uts.witness() == (name, name)


@pytest.mark.parametrize("field", ["hostname", "domain"])
def test_a_name_the_kernel_refuses_changes_nothing(
    uts: UtsNamespace, driver: KernelHostnameDriver, field: str
) -> None:
    uts.run(driver.write("before", "before-domain"))
    too_long = "a" * 65
    hostname, domain = (too_long, "d") if field == "hostname" else ("h", too_long)

    with pytest.raises(HostnameInvalidNameError) as raised:
        uts.run(driver.write(hostname, domain))

    assert raised.value.errno == errno.EINVAL
    assert raised.value.reason == "InvalidName"
    assert raised.value.what == field
    assert "65 bytes" in str(raised.value)
    if field == "hostname":
        assert uts.witness() == ("before", "before-domain")
    assert hostname_file(driver).read_text() == "before\n"


@pytest.mark.parametrize("name", ["a\x00b", "a\nb", "a\r"])
def test_names_that_would_break_the_file_are_refused_before_the_kernel(
    uts: UtsNamespace, driver: KernelHostnameDriver, name: str
) -> None:
    before = uts.witness()
    with pytest.raises(HostnameInvalidNameError) as raised:
        uts.run(driver.write(name, None))
    assert raised.value.errno is None
    assert uts.witness() == before
    assert not hostname_file(driver).exists()


def test_without_cap_sys_admin_the_kernel_refuses(
    uts: UtsNamespace, driver: KernelHostnameDriver
) -> None:
    before = uts.witness()
    with uts.without(CAP_SYS_ADMIN), pytest.raises(HostnamePermissionError) as raised:
        uts.run(driver.write("not-allowed", "nope"))

    assert raised.value.errno == errno.EPERM
    assert raised.value.reason == "PermissionDenied"
    assert "CAP_SYS_ADMIN" in str(raised.value)
    assert uts.witness() == before
    assert not hostname_file(driver).exists()


# --- /etc/hostname under a private root prefix ---------------------------------------------------


def test_a_replaced_file_keeps_its_mode_and_owner(
    uts: UtsNamespace, driver: KernelHostnameDriver
) -> None:
    path = hostname_file(driver)
    path.write_text("old\n")
    path.chmod(0o640)
    os.chown(path, NOBODY, NOBODY)
    inode = path.stat().st_ino

    uts.run(driver.write_file("new\n"))

    replaced = path.stat()
    assert path.read_text() == "new\n"
    assert replaced.st_ino != inode, "written in place, not replaced by a rename"
    assert stat.S_IMODE(replaced.st_mode) == 0o640
    assert (replaced.st_uid, replaced.st_gid) == (NOBODY, NOBODY)
    assert leftovers(driver) == []


def test_a_new_file_is_0644_whatever_the_umask(tmp_path: Path, uts: UtsNamespace) -> None:
    driver = KernelHostnameDriver(tmp_path)  # no etc yet: it is made
    previous = os.umask(0o077)
    try:
        uts.run(driver.write_file("node\n"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(hostname_file(driver).stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "etc").stat().st_mode) == 0o755


def test_none_removes_the_file_and_restores_exact_content(
    uts: UtsNamespace, driver: KernelHostnameDriver
) -> None:
    uts.run(driver.write_file(None))  # nothing to remove
    assert not hostname_file(driver).exists()
    uts.run(driver.write_file("# comment\nback\n"))
    assert hostname_file(driver).read_text() == "# comment\nback\n"
    uts.run(driver.write_file(None))
    assert not hostname_file(driver).exists()
    assert leftovers(driver) == []


def test_no_etc_means_no_file(tmp_path: Path, uts: UtsNamespace) -> None:
    driver = KernelHostnameDriver(tmp_path)
    assert uts.run(driver.read()).file is None
    uts.run(driver.write_file(None))
    assert not (tmp_path / "etc").exists()


def test_a_symlinked_file_is_neither_followed_nor_replaced(
    tmp_path: Path, uts: UtsNamespace, driver: KernelHostnameDriver
) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("theirs\n")
    hostname_file(driver).symlink_to(target)

    with pytest.raises(HostnameSymlinkError) as raised:
        uts.run(driver.read())
    assert isinstance(raised.value, HostnameReadError)
    before = uts.witness()
    for write in (driver.write("mine", None), driver.write_file("mine\n"), driver.write_file(None)):
        with pytest.raises(HostnameSymlinkError) as raised_write:
            uts.run(write)
        assert raised_write.value.reason == "Symlink"

    assert hostname_file(driver).is_symlink()
    assert target.read_text() == "theirs\n"
    assert leftovers(driver) == []
    assert uts.witness()[1] == before[1]


def test_a_symlinked_etc_is_not_followed(tmp_path: Path, uts: UtsNamespace) -> None:
    (tmp_path / "real-etc").mkdir()
    (tmp_path / "real-etc" / "hostname").write_text("theirs\n")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "etc").symlink_to(tmp_path / "real-etc")
    driver = KernelHostnameDriver(tmp_path / "root")

    with pytest.raises(HostnameSymlinkError):
        uts.run(driver.read())
    with pytest.raises(HostnameSymlinkError):
        uts.run(driver.write_file("mine\n"))
    assert (tmp_path / "real-etc" / "hostname").read_text() == "theirs\n"


def test_a_directory_in_place_of_the_file(uts: UtsNamespace, driver: KernelHostnameDriver) -> None:
    hostname_file(driver).mkdir()
    with pytest.raises(HostnameReadError, match="not a regular file"):
        uts.run(driver.read())
    with pytest.raises(HostnameWriteError, match="not a regular file"):
        uts.run(driver.write_file("mine\n"))
    assert hostname_file(driver).is_dir()


def test_an_unwritable_directory_is_permission_denied(
    uts: UtsNamespace, driver: KernelHostnameDriver
) -> None:
    hostname_file(driver).write_text("theirs\n")
    (driver.root / "etc").chmod(0o555)
    os.chown(driver.root / "etc", NOBODY, NOBODY)

    with uts.without(CAP_DAC_OVERRIDE), pytest.raises(HostnamePermissionError) as raised:
        uts.run(driver.write_file("mine\n"))

    assert raised.value.errno == errno.EACCES
    assert raised.value.what == "/etc/hostname"
    assert hostname_file(driver).read_text() == "theirs\n"
