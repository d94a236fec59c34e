"""Real kernel modules for the module driver's tests, and a tree that plays a kernel loading them.

Debian's modules
----------------
`debian_modules()` gives a few real modules of a Debian kernel package (xz-compressed, with
their dependencies: ``8021q`` needs ``garp`` and ``mrp``, which need ``stp`` and ``llc``) and
the real modules.dep, modules.alias and modules.builtin for the whole package, made by
Debian's own depmod. The first call downloads the package with apt (``apt-get download``:
some 35 MB; ``apt-get update`` first if apt does not know the package yet), unpacks it, runs
depmod from Debian's kmod package (unpacked beside it, not installed) and keeps what the
tests need (under 1 MB) in the checkout's ``.cache/`` (gitignored); later runs use that and
download nothing. A download that fails fails the tests
that need it: they are not skipped.

A kernel that loads modules
---------------------------
The kernel these tests run on may have no module support, and where it has, loading modules
on the host is not a test's business. `FakeKernel` is a directory with the /proc/modules and
/sys/module a kernel shows, and the two system calls the driver makes (given to the driver
as its `syscalls`): its finit_module reads the image it is handed (decompressing it when
asked to, as the kernel does), takes the module's name and direct dependencies from the
image's own .modinfo, refuses a module whose dependencies are not loaded (ENOENT, as the
kernel does for the unknown symbols), counts references and holders, and records every call.
"""

from __future__ import annotations

import errno
import functools
import lzma
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import debian

CACHE = debian.CACHE / "kernel-modules"
MODULES = ("dummy", "bonding", "tls", "8021q", "garp", "mrp", "stp", "llc", "bridge")
"""Kept from the package: `bonding` needs `tls`; `8021q` and `bridge` share `stp` and `llc`."""
INDEX = ("modules.dep", "modules.alias", "modules.builtin")
MODULE_INIT_COMPRESSED_FILE = 4


@dataclass(frozen=True)
class DebianModules:
    """The cached modules directory of one kernel release."""

    release: str
    directory: Path

    def install(self, root: Path) -> Path:
        """A copy under `root` as ``<root>/lib/modules/<release>``; returns that directory."""
        target = root / "lib" / "modules" / self.release
        shutil.copytree(self.directory, target)
        return target


@functools.cache
def debian_modules() -> DebianModules:
    """The cached modules, made first if need be (see the module docstring); fails the test
    with apt's or depmod's own words when they cannot be made (and every later test at once,
    without trying again)."""
    if _failures:
        pytest.fail(_failures[0], pytrace=False)
    CACHE.mkdir(parents=True, exist_ok=True)
    with debian.locked(CACHE / ".lock"):  # other test runs in this checkout wait for one download
        found = _cached()
        if found is None:
            try:
                found = _prepare()
            except (OSError, subprocess.CalledProcessError, RuntimeError) as error:
                detail = getattr(error, "stderr", "") or ""
                _failures.append(
                    f"cannot prepare the Debian kernel modules the module tests need "
                    f"({debian.KERNEL_FLAVOURS['cloud']} from the Debian mirror): {error}\n{detail}"
                )
                pytest.fail(_failures[0], pytrace=False)
    return found


_failures: list[str] = []
"""Why the modules could not be prepared, once that was tried and failed."""


def _cached() -> DebianModules | None:
    releases = sorted(p for p in CACHE.iterdir() if p.is_dir() and not p.name.startswith("."))
    return DebianModules(releases[-1].name, releases[-1]) if releases else None


def _prepare() -> DebianModules:
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".work-") as work_name:
        work = Path(work_name)
        image = debian.image_package("cloud")
        debs = debian.download([image, "kmod"], work)
        debian.unpack(debs[image], work / "image")
        release = _one((work / "image" / "lib" / "modules").iterdir()).name
        debian.depmod(work / "image", release, debs["kmod"], work)
        full = work / "image" / "lib" / "modules" / release
        kept = work / "kept"
        kept.mkdir()
        for name in INDEX:
            shutil.copy2(full / name, kept / name)
        for file in _files_of(full / "modules.dep", MODULES):
            (kept / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(full / file, kept / file)
        kept.rename(CACHE / release)
    return DebianModules(release, CACHE / release)


def _files_of(modules_dep: Path, names: tuple[str, ...]) -> list[str]:
    files = {}
    for line in modules_dep.read_text().splitlines():
        file = line.partition(":")[0]
        files[os.path.basename(file).partition(".ko")[0]] = file
    missing = [name for name in names if name not in files]
    if missing:
        raise RuntimeError(f"the package has no modules {missing}")
    return [files[name] for name in names]


def _one(paths: Iterator[Path]) -> Path:
    [path] = list(paths)
    return path


def builtin_module_here() -> str:
    """A module built into this machine's kernel, with parameters to show (loop, where it is)."""
    candidates = sorted(
        entry.name
        for entry in Path("/sys/module").iterdir()
        if (entry / "parameters").is_dir()
        and not (entry / "initstate").exists()
        and entry.name != "kernel"  # the kernel's own parameters, not a module
    )
    return "loop" if "loop" in candidates else candidates[0]


# --- a kernel that loads modules ---------------------------------------------------------


@dataclass
class Loaded:
    state: str = "Live"
    refcount: int = 0
    holders: list[str] = field(default_factory=list)
    depends: tuple[str, ...] = ()
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One finit_module call as the kernel saw it."""

    module: str
    image: bytes
    """The ELF image, decompressed if the call asked the kernel to."""
    parameters: str
    flags: int


class FakeKernel:
    """/proc/modules and /sys/module under `root`, changed by its own system calls."""

    def __init__(self, root: Path, *, compression: str | None = None) -> None:
        self.root = root
        self.modules: dict[str, Loaded] = {}
        """Loaded modules, in the order they loaded."""
        self.builtin: dict[str, dict[str, str]] = {}
        self.calls: list[Call] = []
        self.unloads: list[str] = []
        self.fail_with: dict[str, int] = {}
        """errno the next finit_module or delete_module of a module fails with."""
        (root / "proc").mkdir(parents=True)
        (root / "sys" / "module").mkdir(parents=True)
        if compression is not None:
            (root / "sys" / "module" / "compression").write_text(f"{compression}\n")
        self._write()

    def load(self, name: str, *, depends: tuple[str, ...] = (), **parameters: str) -> None:
        """A module loaded by someone else (before cosid, or behind its back)."""
        self._add(name, depends, parameters)
        self._write()

    def add_builtin(self, name: str, **parameters: str) -> None:
        self.builtin[name] = parameters
        self._write()

    def hold(self, name: str, count: int = 1) -> None:
        """Something (a device, a socket) takes references to a loaded module (a negative
        count lets them go)."""
        self.modules[name].refcount += count
        self._write()

    def finit_module(self, fd: int, parameters: bytes, flags: int) -> None:
        image = os.pread(fd, os.fstat(fd).st_size, 0)
        if flags & MODULE_INIT_COMPRESSED_FILE:
            image = lzma.decompress(image)  # what these tests' kernels undo: xz
        name, depends = modinfo(image)
        self.calls.append(Call(name, image, parameters.decode(), flags))
        if name in self.fail_with:
            raise _error(self.fail_with.pop(name))
        if name in self.modules:
            raise _error(errno.EEXIST)
        if any(dependency not in self.modules for dependency in depends):
            raise _error(errno.ENOENT)  # unknown symbols
        self._add(name, depends, dict(p.split("=", 1) for p in parameters.decode().split()))
        self._write()

    def delete_module(self, name: bytes, flags: int) -> None:
        module = name.decode()
        self.unloads.append(module)
        if module in self.fail_with:
            raise _error(self.fail_with.pop(module))
        loaded = self.modules.get(module)
        if loaded is None:
            raise _error(errno.ENOENT)
        if loaded.refcount:
            raise _error(errno.EWOULDBLOCK if flags & os.O_NONBLOCK else errno.EBUSY)
        del self.modules[module]
        for dependency in loaded.depends:
            self.modules[dependency].refcount -= 1
            self.modules[dependency].holders.remove(module)
        self._write()

    def _add(self, name: str, depends: tuple[str, ...], parameters: Mapping[str, str]) -> None:
        self.modules[name] = Loaded(depends=depends, parameters=dict(parameters))
        for dependency in depends:
            self.modules[dependency].refcount += 1
            self.modules[dependency].holders.append(name)

    def _write(self) -> None:
        """Show the modules as the kernel would, in /proc/modules (the last loaded first) and
        /sys/module (what the driver reads there: ``initstate`` and parameters). The driver
        reads from other threads, so nothing is ever half written: /proc/modules is replaced
        whole, and a module's directory comes and goes with the module."""
        lines = [
            f"{name} 16384 {m.refcount} {''.join(h + ',' for h in m.holders) or '-'} "
            f"{m.state} 0x0000000000000000\n"
            for name, m in reversed(self.modules.items())
        ]
        proc_modules = self.root / "proc" / "modules"
        replacement = proc_modules.with_name(".modules.new")
        replacement.write_text("".join(lines))
        replacement.replace(proc_modules)
        sys_module = self.root / "sys" / "module"
        shown = {**{name: m.parameters for name, m in self.modules.items()}, **self.builtin}
        for entry in sys_module.iterdir():
            if entry.is_dir() and entry.name not in shown:
                shutil.rmtree(entry)
        for name, parameters in shown.items():
            directory = sys_module / name
            if directory.exists():
                continue
            staged = sys_module / f".{name}"
            staged.mkdir()
            if name in self.modules:
                (staged / "initstate").write_text("live\n")
            _parameters(staged, parameters)
            staged.rename(directory)


def _parameters(directory: Path, parameters: Mapping[str, str]) -> None:
    if parameters:
        (directory / "parameters").mkdir()
    for name, value in parameters.items():
        (directory / "parameters" / name).write_text(f"{value}\n")


def modinfo(image: bytes) -> tuple[str, tuple[str, ...]]:
    """The module's name and direct dependencies, from the image's .modinfo strings."""
    if not image.startswith(b"\x7fELF"):
        raise _error(errno.ENOEXEC)
    fields = dict(re.findall(rb"(?<=\x00)(name|depends)=([^\x00]*)\x00", image))
    name = fields[b"name"].decode()
    depends = tuple(d for d in fields.get(b"depends", b"").decode().split(",") if d)
    return name, depends


def _error(code: int) -> OSError:
    return OSError(code, os.strerror(code))
