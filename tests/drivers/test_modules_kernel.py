"""The kernel module driver loading and unloading real Debian modules.

What finit_module and delete_module are given is checked against `FakeKernel`, handed to the
driver as its system calls: this machine's kernel has no module support, so the real call
cannot succeed here (and loading modules into a host kernel is no test's business). The
real call is made once, to show it fails as NoModuleSupport; the VM issue proves real
loading. The kernel's view of built-in and absent modules is read from this machine's real
/proc and /sys.
"""

from __future__ import annotations

import errno
import lzma
import os
from pathlib import Path

import pytest

from cosid.drivers.modules import (
    ModuleDriver,
    ModuleError,
    ModuleInfo,
    ModuleInUseError,
    ModuleLoadError,
    ModulePermissionError,
    ModuleReadError,
    ModuleRejectedError,
    ModuleSymlinkError,
    ModuleUnloadError,
    NoModuleSupportError,
    Resolution,
)
from cosid.drivers.modules.image import MODULE_INIT_COMPRESSED_FILE
from cosid.drivers.modules.isolated import ModuleNotIsolatedError, SandboxModuleDriver
from cosid.drivers.modules.kernel import KernelModuleDriver
from tests.drivers.modules_fixtures import FakeKernel, builtin_module_here, debian_modules

HOST_HAS_MODULES = os.path.exists("/proc/modules")
no_module_support_here = pytest.mark.skipif(
    HOST_HAS_MODULES, reason="this kernel supports modules; these tests are for one that does not"
)


def as_driver(driver: KernelModuleDriver, sandboxed: SandboxModuleDriver) -> list[ModuleDriver]:
    """Never called: mypy checks here that both drivers implement the Protocol."""
    return [driver, sandboxed]


class Node:
    def __init__(self, tmp_path: Path, compression: str | None = None) -> None:
        self.root = tmp_path / "node"
        self.modules = debian_modules().install(self.root)
        self.kernel = FakeKernel(tmp_path / "kernel", compression=compression)
        self.driver = KernelModuleDriver(
            self.root,
            kernel=self.kernel.root,
            release=debian_modules().release,
            syscalls=self.kernel,
        )

    def image(self, file: str) -> bytes:
        return lzma.decompress((self.modules / file).read_bytes())

    async def load(self, name: str, **parameters: str) -> Resolution:
        resolution = await self.driver.resolve(name)
        await self.driver.load(resolution, parameters)
        return resolution


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


# --- loading -------------------------------------------------------------------------------


async def test_dependencies_load_first_and_only_the_module_gets_parameters(node: Node) -> None:
    resolution = await node.load("8021q", gvrp="1")

    assert [call.module for call in node.kernel.calls] == list(resolution.load_order)
    assert [call.parameters for call in node.kernel.calls] == ["", "", "", "", "gvrp=1"]
    assert {call.flags for call in node.kernel.calls} == {0}
    files = [*(d.file for d in resolution.dependencies), resolution.file]
    for call, file in zip(node.kernel.calls, files, strict=True):
        assert file is not None
        assert call.image == node.image(file)  # the real image, decompressed
    info = await node.driver.inspect("8021q")
    assert info == ModuleInfo("8021q", "live", 0, (), {"gvrp": "1"})
    assert (await node.driver.inspect("garp")).holders == ("8021q",)


async def test_a_kernel_that_decompresses_xz_gets_the_files(tmp_path: Path) -> None:
    node = Node(tmp_path, compression="xz")
    await node.load("bonding", max_bonds="0", mode="active-backup")
    assert [(c.module, c.parameters, c.flags) for c in node.kernel.calls] == [
        ("tls", "", MODULE_INIT_COMPRESSED_FILE),
        ("bonding", "max_bonds=0 mode=active-backup", MODULE_INIT_COMPRESSED_FILE),
    ]
    assert node.kernel.calls[1].image == node.image("kernel/drivers/net/bonding/bonding.ko.xz")


async def test_what_the_kernel_has_is_not_loaded_again(node: Node) -> None:
    node.kernel.load("llc")
    node.kernel.load("stp", depends=("llc",))
    await node.load("bridge")
    assert [call.module for call in node.kernel.calls] == ["bridge"]


async def test_a_module_loaded_meanwhile_is_as_good(node: Node) -> None:
    node.kernel.fail_with["dummy"] = errno.EEXIST
    await node.load("dummy")
    assert [call.module for call in node.kernel.calls] == ["dummy"]


@pytest.mark.parametrize(
    ("code", "error", "reason", "message"),
    [
        (errno.ENOSYS, NoModuleSupportError, "NoModuleSupport", "cannot load modules"),
        (errno.EPERM, ModulePermissionError, "PermissionDenied", "needs CAP_SYS_MODULE"),
        (errno.ENOEXEC, ModuleRejectedError, "Rejected", "not a module this kernel can load"),
        (errno.EINVAL, ModuleRejectedError, "Rejected", "one of its parameters' values"),
        (errno.EKEYREJECTED, ModuleRejectedError, "Rejected", "signature was rejected"),
        (errno.ENODEV, ModuleLoadError, "LoadFailed", "refused to load it: ENODEV"),
    ],
)
async def test_the_kernel_refusing_says_why(
    node: Node, code: int, error: type[ModuleError], reason: str, message: str
) -> None:
    node.kernel.fail_with["dummy"] = code
    with pytest.raises(error) as raised:
        await node.load("dummy")
    assert type(raised.value) is error
    assert (raised.value.reason, raised.value.errno) == (reason, code)
    assert message in str(raised.value)
    assert str(raised.value).startswith("module dummy: ")


async def test_a_failed_dependency_stops_the_load(node: Node) -> None:
    node.kernel.fail_with["stp"] = errno.ENOMEM
    with pytest.raises(ModuleLoadError, match="module stp: the kernel refused to load it"):
        await node.load("8021q")
    assert [call.module for call in node.kernel.calls] == ["llc", "mrp", "stp"]


async def test_a_missing_module_file(node: Node) -> None:
    """modules.dep lists the whole package; the fixture keeps a few of its files."""
    with pytest.raises(ModuleReadError) as raised:
        await node.load("nf_tables")
    assert "cannot be read: ENOENT" in str(raised.value)


async def test_a_symlinked_module_file_is_not_followed(node: Node, tmp_path: Path) -> None:
    file = node.modules / "kernel" / "drivers" / "net" / "dummy.ko.xz"
    elsewhere = tmp_path / "elsewhere.ko.xz"
    file.rename(elsewhere)
    file.symlink_to(elsewhere)
    with pytest.raises(ModuleSymlinkError) as raised:
        await node.load("dummy")
    assert raised.value.reason == "Symlink"
    assert node.kernel.calls == []


@no_module_support_here
async def test_the_real_finit_module_says_this_kernel_has_no_module_support(node: Node) -> None:
    """Everything up to the system call, then this machine's kernel answers ENOSYS."""
    driver = KernelModuleDriver(
        node.root, kernel=node.kernel.root, release=debian_modules().release
    )
    with pytest.raises(NoModuleSupportError) as raised:
        await driver.load(await driver.resolve("dummy"), {"numdummies": "1"})
    assert raised.value.errno == errno.ENOSYS
    assert "the kernel cannot load modules (finit_module: ENOSYS" in str(raised.value)


# --- unloading -----------------------------------------------------------------------------


async def test_unloading_a_module_and_then_what_it_used(node: Node) -> None:
    await node.load("8021q")
    await node.driver.unload("8021q")
    for dependency in ("garp", "mrp", "stp", "llc"):
        await node.driver.unload(dependency)
    assert node.kernel.modules == {}
    assert node.kernel.unloads == ["8021q", "garp", "mrp", "stp", "llc"]
    await node.driver.unload("8021q")  # not loaded: nothing to do
    assert node.kernel.unloads[-1] == "llc"


async def test_a_module_in_use_is_not_unloaded(node: Node) -> None:
    await node.load("8021q")
    with pytest.raises(ModuleInUseError) as raised:
        await node.driver.unload("stp")
    assert raised.value.reason == "InUse"
    assert "is in use (refcount 1, used by garp)" in str(raised.value)

    node.kernel.hold("8021q", 2)  # a VLAN device, say
    with pytest.raises(ModuleInUseError, match=r"refcount 2\)"):
        await node.driver.unload("8021q")
    assert node.kernel.unloads == []


@pytest.mark.parametrize(
    ("code", "error", "reason"),
    [
        (errno.EWOULDBLOCK, ModuleInUseError, "InUse"),
        (errno.EBUSY, ModuleInUseError, "InUse"),
        (errno.EPERM, ModulePermissionError, "PermissionDenied"),
        (errno.ENOSYS, NoModuleSupportError, "NoModuleSupport"),
        (errno.EIO, ModuleUnloadError, "UnloadFailed"),
    ],
)
async def test_the_kernel_refusing_an_unload_says_why(
    node: Node, code: int, error: type[ModuleError], reason: str
) -> None:
    node.kernel.load("dummy")
    node.kernel.fail_with["dummy"] = code
    with pytest.raises(error) as raised:
        await node.driver.unload("dummy")
    assert (type(raised.value), raised.value.reason, raised.value.errno) == (error, reason, code)


async def test_a_module_unloaded_meanwhile_is_fine(node: Node) -> None:
    node.kernel.load("dummy")
    node.kernel.fail_with["dummy"] = errno.ENOENT
    await node.driver.unload("dummy")


async def test_a_built_in_module_cannot_be_unloaded(node: Node) -> None:
    node.kernel.add_builtin("loop", max_loop="8")
    with pytest.raises(ModuleUnloadError, match="is built into the kernel"):
        await node.driver.unload("loop")
    assert node.kernel.unloads == []


# --- what the kernel shows -----------------------------------------------------------------


async def test_proc_modules_as_the_kernel_writes_it(node: Node) -> None:
    (node.kernel.root / "proc" / "modules").write_text(
        "nvidia 56758272 12 nvidia_modeset,[permanent], Live 0xffffffffc1000000 (POE)\n"
        "ghost 16384 - - Unloading 0x0000000000000000\n"
        "newcomer 16384 0 - Loading 0x0000000000000000\n"
    )
    assert await node.driver.inspect("nvidia") == ModuleInfo(
        "nvidia", "live", 12, ("nvidia_modeset",)
    )
    assert await node.driver.inspect("ghost") == ModuleInfo("ghost", "unloading")
    assert (await node.driver.inspect("newcomer")).present
    assert not (await node.driver.inspect("ghost")).present


async def test_an_unreadable_proc_modules_is_an_error(node: Node) -> None:
    (node.kernel.root / "proc" / "modules").write_text("this is not a module line\n")
    with pytest.raises(ModuleReadError, match="/proc/modules line 1 is not a module's line"):
        await node.driver.inspect("dummy")


async def test_built_in_modules_show_their_parameters(node: Node) -> None:
    node.kernel.add_builtin("loop", max_loop="8", max_part="0")
    assert await node.driver.inspect("loop") == ModuleInfo(
        "loop", "builtin", parameters={"max_loop": "8", "max_part": "0"}
    )
    assert await node.driver.resolve("loop") == Resolution(
        "loop", "kernel/drivers/block/loop.ko.xz"
    )


@no_module_support_here
async def test_this_kernel_shows_built_in_modules_and_nothing_else(tmp_path: Path) -> None:
    """The real /proc and /sys: no /proc/modules, and /sys/module lists built-in modules."""
    driver = KernelModuleDriver(tmp_path)  # no modules under this root, the kernel's own view
    name = builtin_module_here()

    assert await driver.resolve(name) == Resolution(name)
    info = await driver.inspect(name)
    assert info.state == "builtin"
    assert info.parameters == {
        p.name: p.read_text().removesuffix("\n")
        for p in (Path("/sys/module") / name / "parameters").iterdir()
    }

    assert await driver.inspect("dummy") == ModuleInfo("dummy", "absent")
    with pytest.raises(NoModuleSupportError) as raised:
        await driver.resolve("dummy")
    assert str(raised.value) == (
        "module dummy: the kernel has no module support (no /proc/modules), and dummy is not "
        "built into it"
    )


# --- the sandbox ---------------------------------------------------------------------------


async def test_the_sandbox_reads_but_loads_and_unloads_nothing(node: Node) -> None:
    node.kernel.load("dummy")
    sandboxed = SandboxModuleDriver(node.driver)

    resolution = await sandboxed.resolve("8021q")
    assert resolution == await node.driver.resolve("8021q")
    assert (await sandboxed.inspect("dummy")).state == "live"
    with pytest.raises(ModuleNotIsolatedError) as raised:
        await sandboxed.load(resolution, {})
    assert raised.value.reason == "NotIsolated"
    assert "module 8021q: the sandbox cannot isolate kernel modules" in str(raised.value)
    with pytest.raises(ModuleNotIsolatedError):
        await sandboxed.unload("dummy")
    assert (node.kernel.calls, node.kernel.unloads) == ([], [])
