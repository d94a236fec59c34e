"""The procfs sysctl driver against the real /proc/sys of a fresh network namespace, and
against a private tree (root prefix) for what a real /proc/sys cannot show: symlinks.

The sysctl tool, run in the same namespace, is the witness of every write.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosid.drivers import paths
from cosid.drivers.sysctl import (
    SysctlInvalidValueError,
    SysctlKeyError,
    SysctlNotSupportedError,
    SysctlReadError,
    SysctlReadOnlyError,
    SysctlWriteError,
)
from cosid.drivers.sysctl.driver import SysctlDriver
from cosid.drivers.sysctl.procfs import ProcfsSysctlDriver
from cosid.resources.sysctl import values_match
from tests.drivers.netns import NetNamespace

NOBODY = 65534


def as_driver(driver: ProcfsSysctlDriver) -> SysctlDriver:
    """Never called: mypy checks here that the procfs driver implements the Protocol."""
    return driver


@pytest.fixture
def proc() -> ProcfsSysctlDriver:
    return ProcfsSysctlDriver()


# --- the real /proc/sys, in a fresh network namespace ----------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "witness_key"),
    [
        ("net.ipv4.ip_forward", "1", "net.ipv4.ip_forward"),
        ("net/ipv4/conf/all/forwarding", "1", "net.ipv4.conf.all.forwarding"),
        ("net.ipv6.conf.lo.disable_ipv6", "1", "net.ipv6.conf.lo.disable_ipv6"),
        ("net.core.somaxconn", "1234", "net.core.somaxconn"),
        ("net.ipv4.tcp_rmem", "4096 87380 6291456", "net.ipv4.tcp_rmem"),
    ],
)
def test_write_reads_back(
    netns: NetNamespace, proc: ProcfsSysctlDriver, key: str, value: str, witness_key: str
) -> None:
    before = netns.run(proc.read(key))
    assert before is not None
    assert not values_match(value, before), "the namespace's default must differ from the value"

    netns.run(proc.write(key, value))

    current = netns.run(proc.read(key))
    assert current is not None
    assert values_match(value, current)
    assert values_match(value, netns.sysctl(witness_key))


def test_vectors_read_back_as_the_kernel_prints_them(
    netns: NetNamespace, proc: ProcfsSysctlDriver
) -> None:
    netns.run(proc.write("net.ipv4.tcp_rmem", "4096 87380 6291456"))
    assert netns.run(proc.read("net.ipv4.tcp_rmem")) == "4096\t87380\t6291456"


def test_reads_agree_with_the_sysctl_tool(netns: NetNamespace, proc: ProcfsSysctlDriver) -> None:
    for key in ("net.core.somaxconn", "net.ipv4.tcp_rmem", "kernel.ostype", "kernel.version"):
        assert netns.run(proc.read(key)) == netns.sysctl(key), key


def test_both_forms_name_the_same_sysctl(netns: NetNamespace, proc: ProcfsSysctlDriver) -> None:
    netns.run(proc.write("net/ipv4/ip_forward", "1"))
    assert netns.run(proc.read("net.ipv4.ip_forward")) == "1"
    netns.run(proc.write("net.ipv4.ip_forward", "0"))
    assert netns.run(proc.read("net/ipv4/ip_forward")) == "0"


def test_keys_are_those_of_the_drivers_network_namespace(
    netns: NetNamespace, proc: ProcfsSysctlDriver
) -> None:
    """The fresh namespace has only lo: an interface of the host has no keys there."""
    host_only = sorted(set(os.listdir("/proc/sys/net/ipv4/conf")) - {"all", "default", "lo"})
    if not host_only:
        pytest.skip("the host has no interface but lo")
    assert netns.run(proc.read(f"net.ipv4.conf.{host_only[0]}.forwarding")) is None
    assert netns.run(proc.read("net.ipv4.conf.lo.forwarding")) == "0"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("net.core.somaxconn", "many"),
        ("net.core.somaxconn", "-5"),
        ("net.core.somaxconn", "99999999999999999999"),
        ("net.ipv6.conf.lo.disable_ipv6", "x"),
        ("net.ipv4.ip_local_port_range", "40000 30000"),
    ],
)
def test_a_value_the_kernel_refuses(
    netns: NetNamespace, proc: ProcfsSysctlDriver, key: str, value: str
) -> None:
    before = netns.run(proc.read(key))

    with pytest.raises(SysctlInvalidValueError) as raised:
        netns.run(proc.write(key, value))

    assert raised.value.errno == errno.EINVAL
    assert raised.value.reason == "InvalidValue"
    assert raised.value.key == key
    assert netns.run(proc.read(key)) == before


@pytest.mark.parametrize(
    "key",
    ["net.ipv4.no_such_key", "net.ipv4.conf.no-such-link.forwarding", "net.ipv4.conf"],
    ids=["missing", "missing-link", "directory"],
)
def test_a_key_the_kernel_lacks(netns: NetNamespace, proc: ProcfsSysctlDriver, key: str) -> None:
    assert netns.run(proc.read(key)) is None
    with pytest.raises(SysctlNotSupportedError) as raised:
        netns.run(proc.write(key, "1"))
    assert raised.value.reason == "NotSupported"


@pytest.mark.parametrize("key", ["net.ipv4.conf.all.mc_forwarding", "kernel.version"])
def test_a_read_only_key(netns: NetNamespace, proc: ProcfsSysctlDriver, key: str) -> None:
    before = netns.run(proc.read(key))
    assert before is not None

    with pytest.raises(SysctlReadOnlyError) as raised:
        netns.run(proc.write(key, "1"))

    assert raised.value.errno == errno.EACCES
    assert netns.run(proc.read(key)) == before == netns.sysctl(key)


def test_a_write_only_key_cannot_be_read(netns: NetNamespace, proc: ProcfsSysctlDriver) -> None:
    with pytest.raises(SysctlReadError) as raised:
        netns.run(proc.read("net.ipv4.route.flush"))
    assert raised.value.errno == errno.EACCES


def test_a_writable_key_refused_to_an_unprivileged_process(netns: NetNamespace) -> None:
    """Not root: the key is writable, just not by this process (permission, not read-only)."""
    script = textwrap.dedent(
        """
        import asyncio
        from cosid.drivers.sysctl.procfs import ProcfsSysctlDriver
        try:
            asyncio.run(ProcfsSysctlDriver().write("net.ipv4.ip_forward", "1"))
        except Exception as error:
            print(type(error).__name__, error.reason)
        else:
            print("written")
        """
    )
    result = netns.exec(sys.executable, "-c", script, user=NOBODY)
    assert result.stdout.split() == ["SysctlPermissionError", "PermissionDenied"]
    assert netns.sysctl("net.ipv4.ip_forward") == "0"


# --- a private tree: root prefix and the traversal guard ------------------------------------


def make_tree(base: Path) -> Path:
    """<base>/root/proc/sys with a few keys and symlinks, and files outside it to protect."""
    root = base / "root"
    sys_dir = root / "proc" / "sys"
    (sys_dir / "net" / "ipv4" / "conf" / "eth0.100").mkdir(parents=True)
    (sys_dir / "kernel").mkdir()
    (sys_dir / "net" / "ipv4" / "ip_forward").write_text("0\n")
    (sys_dir / "net" / "ipv4" / "conf" / "eth0.100" / "forwarding").write_text("0\n")
    version = sys_dir / "kernel" / "version"
    version.write_text("#1 SMP\n")
    version.chmod(0o444)
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret").write_text("SECRET\n")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("SECRET\n")
    (sys_dir / "net" / "escape").symlink_to(outside)
    (sys_dir / "net" / "leak").symlink_to(outside / "secret")
    (sys_dir / "net" / "v4").symlink_to("ipv4")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


@pytest.fixture(params=["openat2", "realpath"])
def fake(
    request: pytest.FixtureRequest, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> ProcfsSysctlDriver:
    """The driver on the private tree, refusing symlinks in each of the two ways."""
    if request.param == "realpath":
        monkeypatch.setattr(paths, "_openat2", None)
    elif not paths.openat2_available():
        pytest.skip("this kernel has no openat2")
    return ProcfsSysctlDriver(tree)


def outside_untouched(tree: Path) -> bool:
    outside = tree.parent / "outside" / "secret"
    return outside.read_text() == (tree / "etc" / "passwd").read_text() == "SECRET\n"


async def test_root_prefix_reads_and_writes_the_private_tree(
    tree: Path, fake: ProcfsSysctlDriver
) -> None:
    await fake.write("net.ipv4.ip_forward", "1")
    assert (tree / "proc/sys/net/ipv4/ip_forward").read_text() == "1\n"
    assert await fake.read("net.ipv4.ip_forward") == "1"


async def test_a_write_replaces_the_whole_value(tree: Path, fake: ProcfsSysctlDriver) -> None:
    (tree / "proc/sys/net/ipv4/ip_forward").write_text("100\n")
    await fake.write("net/ipv4/ip_forward", "  2\n")
    assert (tree / "proc/sys/net/ipv4/ip_forward").read_text() == "2\n"


async def test_a_component_with_a_dot(tree: Path, fake: ProcfsSysctlDriver) -> None:
    await fake.write("net.ipv4.conf.eth0/100.forwarding", "1")
    assert (tree / "proc/sys/net/ipv4/conf/eth0.100/forwarding").read_text() == "1\n"
    assert await fake.read("net/ipv4/conf/eth0.100/forwarding") == "1"


async def test_a_file_without_write_bits_is_read_only_even_for_root(
    tree: Path, fake: ProcfsSysctlDriver
) -> None:
    with pytest.raises(SysctlReadOnlyError):
        await fake.write("kernel.version", "2")
    assert (tree / "proc/sys/kernel/version").read_text() == "#1 SMP\n"


@pytest.mark.parametrize(
    "key", ["net.escape.secret", "net/escape/secret", "net.leak", "net.v4.ip_forward"]
)
async def test_symlinks_are_never_followed(tree: Path, fake: ProcfsSysctlDriver, key: str) -> None:
    """Out of /proc/sys (a directory, a file) or within it: /proc/sys has none, so none is
    followed."""
    with pytest.raises(SysctlKeyError, match="symlink"):
        await fake.read(key)
    with pytest.raises(SysctlKeyError, match="symlink"):
        await fake.write(key, "1")
    assert outside_untouched(tree)
    assert (tree / "proc/sys/net/ipv4/ip_forward").read_text() == "0\n"


async def test_the_root_prefix_itself_may_be_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(make_tree(tmp_path))
    driver = ProcfsSysctlDriver(tmp_path / "link")
    await driver.write("net.ipv4.ip_forward", "1")
    assert await driver.read("net.ipv4.ip_forward") == "1"


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "net/../../../etc/passwd",
        "net.//.//./etc/passwd",
        "net/ipv4/../../../../outside/secret",
        "",
        "net",
        "net.ipv4.ip_forward\x00",
    ],
)
async def test_invalid_keys_are_refused(tree: Path, fake: ProcfsSysctlDriver, key: str) -> None:
    with pytest.raises(SysctlKeyError) as raised:
        await fake.read(key)
    assert raised.value.reason == "InvalidKey"
    with pytest.raises(SysctlKeyError):
        await fake.write(key, "1")
    assert outside_untouched(tree)


@pytest.mark.parametrize("value", ["1\x002", "1\n2", "x" * 4097])
async def test_invalid_values_are_refused_before_the_kernel_sees_them(
    tree: Path, fake: ProcfsSysctlDriver, value: str
) -> None:
    with pytest.raises(SysctlInvalidValueError) as raised:
        await fake.write("net.ipv4.ip_forward", value)
    assert raised.value.errno is None
    assert (tree / "proc/sys/net/ipv4/ip_forward").read_text() == "0\n"


async def test_write_errors_share_one_base(fake: ProcfsSysctlDriver) -> None:
    for error in (SysctlNotSupportedError, SysctlReadOnlyError, SysctlInvalidValueError):
        assert issubclass(error, SysctlWriteError)
    with pytest.raises(SysctlWriteError):
        await fake.write("net.ipv4.nothing", "1")


_FIRST = st.sampled_from(["net", "net", "net", "kernel", "..", "/"])
_COMPONENTS = st.sampled_from(["escape", "leak", "secret", "v4", "ipv4", "ip_forward", "..", ""])
_SEPARATORS = st.sampled_from(".../")


@pytest.fixture(scope="module")
def shared_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("traversal"))


@settings(max_examples=300, deadline=None)
@given(
    first=_FIRST,
    rest=st.lists(st.tuples(_SEPARATORS, _COMPONENTS | st.text(max_size=3)), max_size=4),
)
def test_no_key_reaches_outside_proc_sys(
    shared_tree: Path, first: str, rest: list[tuple[str, str]]
) -> None:
    """Keys built from traversal pieces and escaping symlinks: none reads or writes outside."""
    key = first + "".join(separator + part for separator, part in rest)
    for use_openat2 in (True, False):
        with mock.patch.object(paths, "_openat2", paths._openat2 if use_openat2 else None):
            driver = ProcfsSysctlDriver(shared_tree)
            try:
                value = asyncio.run(driver.read(key))
            except (SysctlKeyError, SysctlReadError):
                value = None
            assert value is None or "SECRET" not in value
            with contextlib.suppress(SysctlKeyError, SysctlWriteError):
                asyncio.run(driver.write(key, "OWNED"))
            assert outside_untouched(shared_tree)
