"""Resolving module names the way modprobe does, on a real Debian kernel's modules.dep,
modules.alias and modules.builtin (made by Debian's depmod, see `modules_fixtures`): load
order, aliases, built-in modules, blacklists and ``-``/``_``; then what is wrong with an index
that cannot be used.

The kernel is a `FakeKernel` with module support (so resolution is not cut short by this
machine's kernel, which has none; that case is in test_modules_kernel.py).
"""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest

from cosid.drivers.modules import (
    AmbiguousAliasError,
    ModuleIndexError,
    Resolution,
    UnknownModuleError,
)
from cosid.drivers.modules.index import IndexFiles, ModuleIndex, module_name, normalise_alias
from cosid.drivers.modules.kernel import KernelModuleDriver
from tests.drivers.modules_fixtures import FakeKernel, debian_modules, modinfo


class Node:
    """A node's root holding the Debian modules, and a kernel that can load them."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "node"
        self.modules = debian_modules().install(self.root)
        self.kernel = FakeKernel(tmp_path / "kernel")
        self.driver = KernelModuleDriver(
            self.root, kernel=self.kernel.root, release=debian_modules().release
        )

    def modprobe_d(self, directory: str, name: str, text: str) -> Path:
        path = self.root / directory.lstrip("/") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def append(self, index_file: str, text: str) -> None:
        with (self.modules / index_file).open("a") as file:
            file.write(text)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def dependencies(resolution: Resolution) -> list[str]:
    return [dependency.name for dependency in resolution.dependencies]


# --- modules and their dependencies --------------------------------------------------------


async def test_a_module_without_dependencies(node: Node) -> None:
    resolution = await node.driver.resolve("dummy")
    assert resolution == Resolution("dummy", "kernel/drivers/net/dummy.ko.xz")
    assert resolution.load_order == ("dummy",)


@pytest.mark.parametrize(
    ("name", "needs"),
    [
        ("8021q", {"garp", "mrp", "stp", "llc"}),
        ("bridge", {"stp", "llc"}),
        ("bonding", {"tls"}),
        ("garp", {"stp", "llc"}),
    ],
)
async def test_dependencies_load_first_each_after_what_it_needs(
    node: Node, name: str, needs: set[str]
) -> None:
    """The order is checked against the modules themselves: each image's own .modinfo
    ``depends`` names modules that come earlier."""
    resolution = await node.driver.resolve(name)
    assert set(dependencies(resolution)) == needs
    assert resolution.load_order[-1] == name
    loaded: set[str] = set()
    steps = [(d.name, d.file) for d in resolution.dependencies]
    for step, file in [*steps, (name, resolution.file)]:
        assert file is not None
        image = lzma.decompress((node.modules / file).read_bytes())
        module, depends = modinfo(image)
        assert module == step
        assert set(depends) <= loaded, f"{module} loads before {set(depends) - loaded}"
        loaded.add(module)


async def test_dashes_and_underscores_are_one_character(node: Node) -> None:
    """intel-uncore.ko.xz is the module intel_uncore, however a spec writes it."""
    resolution = await node.driver.resolve("intel_uncore")
    assert resolution.module == "intel_uncore"
    assert resolution.file is not None
    assert resolution.file.endswith("/intel-uncore.ko.xz")


# --- aliases -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "module"),
    [("rtnl_link_vlan", "8021q"), ("rtnl_link_bond", "bonding"), ("rtnl_link_bridge", "bridge")],
)
async def test_an_alias_resolves_to_its_module(node: Node, alias: str, module: str) -> None:
    """modules.alias writes ``rtnl-link-vlan``; names hold ``_`` for ``-``."""
    resolution = await node.driver.resolve(alias)
    assert resolution == await node.driver.resolve(module)


async def test_an_alias_of_several_modules_is_refused(node: Node) -> None:
    """crypto-twofish names four implementations; modprobe loads them all, a spec names one."""
    with pytest.raises(AmbiguousAliasError) as raised:
        await node.driver.resolve("crypto_twofish")
    assert raised.value.reason == "AmbiguousAlias"
    assert "is an alias of 4 modules (twofish_x86_64, twofish_x86_64_3way," in str(raised.value)


def test_glob_aliases_match_with_dashes_as_underscores_outside_brackets() -> None:
    index = ModuleIndex.parse(
        "kernel/a.ko:\nkernel/b.ko:\n",
        "alias net-pf-10 a\nalias char-major-[0-9]*-x b\nalias pci:v*d*[a-]* b\n",
    )
    assert index.alias_targets("net_pf_10") == ("a",)
    assert index.alias_targets("char_major_4_x") == ("b",)
    assert index.alias_targets("pci:v1d2-") == ("b",)
    assert index.alias_targets("nothing") == ()
    assert normalise_alias("a-b[x-z]-c") == "a_b[x-z]_c"


async def test_blacklist_hides_a_module_from_aliases_only(node: Node) -> None:
    node.modprobe_d("/etc/modprobe.d", "vlan.conf", "# no VLANs\nblacklist 8021q\n")

    with pytest.raises(UnknownModuleError) as raised:
        await node.driver.resolve("rtnl_link_vlan")
    assert "alias only of blacklisted modules (8021q)" in str(raised.value)
    assert (await node.driver.resolve("8021q")).module == "8021q"  # named directly: loads


async def test_blacklist_settles_an_ambiguous_alias(node: Node) -> None:
    node.modprobe_d(
        "/usr/lib/modprobe.d",
        "twofish.conf",
        "blacklist twofish_x86_64_3way\nblacklist twofish-avx-x86_64\nblacklist twofish_generic\n",
    )
    assert (await node.driver.resolve("crypto_twofish")).module == "twofish_x86_64"


async def test_an_earlier_directory_replaces_or_masks_a_file_of_the_same_name(node: Node) -> None:
    node.modprobe_d("/usr/lib/modprobe.d", "net.conf", "blacklist 8021q\n")
    node.modprobe_d("/etc/modprobe.d", "net.conf", "blacklist bonding\n")  # replaces it
    assert (await node.driver.resolve("rtnl_link_vlan")).module == "8021q"
    with pytest.raises(UnknownModuleError):
        await node.driver.resolve("rtnl_link_bond")

    mask = node.root / "etc" / "modprobe.d" / "net.conf"
    mask.unlink()
    mask.symlink_to("/dev/null")  # masks /usr/lib's net.conf too
    assert (await node.driver.resolve("rtnl_link_vlan")).module == "8021q"
    assert (await node.driver.resolve("rtnl_link_bond")).module == "bonding"


async def test_a_symlinked_modprobe_d_file_is_not_followed(node: Node) -> None:
    elsewhere = node.modprobe_d("/srv", "vlan.conf", "blacklist 8021q\n")
    (node.root / "etc" / "modprobe.d").mkdir(parents=True)
    (node.root / "etc" / "modprobe.d" / "vlan.conf").symlink_to(elsewhere)
    with pytest.raises(ModuleIndexError) as raised:
        await node.driver.resolve("rtnl_link_vlan")
    assert "/etc/modprobe.d/vlan.conf cannot be read: ELOOP" in str(raised.value)


# --- built-in and unknown names ------------------------------------------------------------


@pytest.mark.parametrize(("name", "module"), [("amd_uncore", "amd_uncore"), ("ext4", "ext4")])
async def test_a_built_in_module_has_no_file(node: Node, name: str, module: str) -> None:
    """modules.builtin lists kernel/arch/x86/events/amd/amd-uncore.ko: the module amd_uncore."""
    assert await node.driver.resolve(name) == Resolution(module)
    assert (await node.driver.inspect(module)).state == "builtin"


async def test_a_module_the_kernel_has_resolves_to_itself_without_the_index(node: Node) -> None:
    node.kernel.load("out_of_tree")
    assert await node.driver.resolve("out_of_tree") == Resolution("out_of_tree")


async def test_an_unknown_name(node: Node) -> None:
    with pytest.raises(UnknownModuleError) as raised:
        await node.driver.resolve("no_such_module")
    assert raised.value.reason == "NotFound"
    assert str(raised.value) == (
        "module no_such_module: is no module, alias or built-in module of "
        f"/lib/modules/{debian_modules().release}"
    )


async def test_an_alias_of_a_module_without_a_file(node: Node) -> None:
    node.append("modules.alias", "alias cosid-test gone\n")
    with pytest.raises(UnknownModuleError) as raised:
        await node.driver.resolve("cosid_test")
    assert "is an alias of gone, which modules.dep does not list" in str(raised.value)


# --- indexes that cannot be used -----------------------------------------------------------


async def test_a_missing_index_says_what_makes_it(node: Node) -> None:
    (node.modules / "modules.dep").unlink()
    with pytest.raises(ModuleIndexError) as raised:
        await node.driver.resolve("dummy")
    assert raised.value.reason == "BadIndex"
    assert "modules.dep does not exist (depmod makes it" in str(raised.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("kernel/x.ko kernel/y.ko\n", "modules.dep line {n} has no ':'"),
        ("../../etc/evil.ko:\n", "'../../etc/evil.ko' is not a relative path without '..'"),
        ("/lib/modules/x/kernel/evil.ko:\n", "is not a relative path"),
        ("kernel/evil.so:\n", "'kernel/evil.so' is not a module file"),
        ("kernel/evil.ko: kernel/ghost.ko\n", "lists ghost as a dependency of evil, but has no"),
        ("kernel/evil.ko: kernel/evil2.ko\nkernel/evil2.ko: kernel/evil.ko\n", "cycle: evil"),
    ],
)
async def test_a_malformed_index_is_named_with_its_line(
    node: Node, line: str, message: str
) -> None:
    lines = len((node.modules / "modules.dep").read_text().splitlines())
    node.append("modules.dep", line)
    with pytest.raises(ModuleIndexError) as raised:
        await node.driver.resolve("evil")
    assert message.format(n=lines + 1) in str(raised.value)


def test_the_index_is_parsed_again_only_when_a_file_changes(tmp_path: Path) -> None:
    directory = debian_modules().install(tmp_path)
    files = IndexFiles(tmp_path, debian_modules().release)
    first = files.read()
    assert files.read() is first
    replacement = directory / "modules.dep.new"
    replacement.write_text("kernel/drivers/net/dummy.ko.xz:\n")
    replacement.rename(directory / "modules.dep")  # as depmod replaces it
    again = files.read()
    assert again is not first
    assert again.file_of("bonding") is None


def test_a_module_file_name_is_its_module() -> None:
    assert module_name("kernel/net/8021q/8021q.ko.xz") == "8021q"
    assert module_name("kernel/drivers/hid/hid-generic.ko.zst") == "hid_generic"
    assert module_name("extra/vbox.ko") == "vbox"
    with pytest.raises(ValueError, match="not a module file"):
        module_name("kernel/net/8021q/8021q.o")
