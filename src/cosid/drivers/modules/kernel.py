"""The kernel module driver: finit_module(2) and delete_module(2), with cosid's own resolution
of names to files (the way modprobe(8) does it, from the files depmod writes).

Why not libkmod
---------------
libkmod (libkmod.so.2, what modprobe is built on) is installed on most systems, and ctypes
could call it. cosid resolves names itself instead:

- cosid never runs programs, and libkmod's probe runs the shell commands of modprobe.d
  ``install`` lines unless each call says not to;
- libkmod's interface is opaque pointers and lists freed by hand; through ctypes nothing
  checks the types, so a mistake crashes the daemon rather than raising. The PyPI bindings
  are unmaintained;
- libkmod is not everywhere cosid runs (containers, minimal images), and module support
  would then depend on the image;
- what cosid needs is small and stable: depmod's text files (`index`), the ``blacklist``
  lines of modprobe.d (`modprobe_d`), /proc/modules and /sys/module (`view`), and two system
  calls. In Python they read under any root prefix and are tested on real modules.

Left out, as modprobe's business: soft dependencies, modprobe.d ``options``, ``alias`` and
``install`` lines, and aliases of built-in modules (depmod writes those only in binary form).

Loading
-------
`resolve` turns a name into a module and the modules it needs (modules.dep), `load` loads
those the kernel lacks, dependencies first, each from its file (`image`: the compressed file
when the kernel undoes the compression, else a memfd holding the decompressed image).
Parameters go to the spec's module only. A module loaded meanwhile (EEXIST) is fine.
`unload` uses O_NONBLOCK: a module in use fails at once (`ModuleInUseError`) rather than
making the call wait. Loads and unloads take turns (a lock), so one item's unload of a shared
dependency cannot race another's load of it; each runs in a thread, since a module's init
function may take a while.

The system calls are the driver's `syscalls` (`cosid.drivers.libc` unless a test gives
others). Module files are read under `root` (the node's /lib/modules, /etc/modprobe.d); the
kernel's view under `kernel` ("/": /proc and /sys are the kernel's, not the node's files).
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cosid.drivers import libc
from cosid.drivers.errors import describe_os_error
from cosid.drivers.modules.driver import (
    AmbiguousAliasError,
    ModuleError,
    ModuleIndexError,
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
    UnknownModuleError,
)
from cosid.drivers.modules.image import module_image
from cosid.drivers.modules.index import DEPENDENCIES, IndexFiles, ModuleIndex
from cosid.drivers.modules.modprobe_d import read_blacklist
from cosid.drivers.modules.view import KernelView
from cosid.drivers.paths import open_no_symlinks
from cosid.resources.modules import parameter_string

_REJECTED = {
    errno.ENOEXEC: "is not a module this kernel can load (built for another kernel?)",
    errno.EINVAL: "the kernel refused the module or one of its parameters' values",
    errno.ENOENT: "needs a symbol the kernel does not have (a dependency missing?)",
    errno.EKEYREJECTED: "its signature was rejected",
    errno.ENOKEY: "its signature is by a key the kernel does not trust",
    errno.EBADMSG: "its signature is malformed",
}


class ModuleSyscalls(Protocol):
    """The two system calls the driver makes (`cosid.drivers.libc` has them)."""

    def finit_module(self, fd: int, parameters: bytes, flags: int) -> None: ...

    def delete_module(self, name: bytes, flags: int) -> None: ...


class KernelModuleDriver:
    """`ModuleDriver` over the running kernel, with the index of ``<root>/lib/modules/<release>``.

    `release` is the running kernel's (``uname -r``) unless given; `kernel` is where /proc and
    /sys are; `syscalls` makes the system calls.
    """

    def __init__(
        self,
        root: Path = Path("/"),
        *,
        kernel: Path = Path("/"),
        release: str | None = None,
        syscalls: ModuleSyscalls = libc,
    ) -> None:
        self.root = root
        self.index = IndexFiles(root, release or os.uname().release)
        self.kernel = KernelView(kernel)
        self._syscalls = syscalls
        self._changing = threading.Lock()

    async def resolve(self, name: str) -> Resolution:
        return await asyncio.to_thread(self._resolve, name)

    async def inspect(self, module: str) -> ModuleInfo:
        return await asyncio.to_thread(self._inspect, module)

    async def load(self, resolution: Resolution, parameters: Mapping[str, str]) -> None:
        await asyncio.to_thread(self._load, resolution, parameters)

    async def unload(self, module: str) -> None:
        await asyncio.to_thread(self._unload, module)

    def _resolve(self, name: str) -> Resolution:
        try:
            index = self.index.read()
        except ValueError as error:
            if self._present(name, None):
                return Resolution(name)  # loaded or built in: the index is not needed
            self._require_module_support(name)
            raise ModuleIndexError(name, str(error)) from None
        if self._present(name, index):
            return self._module(name, index)
        self._require_module_support(name)
        if index.file_of(name) is not None:
            return self._module(name, index)
        return self._alias(name, index)

    def _require_module_support(self, name: str) -> None:
        """NoModuleSupportError when the kernel cannot load modules: what matters most about a
        module it does not have, whatever the index says."""
        if not self.kernel.supports_modules():
            raise NoModuleSupportError(
                name,
                f"the kernel has no module support (no /proc/modules), and {name} is not "
                "built into it",
            )

    def _alias(self, name: str, index: ModuleIndex) -> Resolution:
        """The one module an alias names, blacklisted modules left out (modprobe.d)."""
        targets = index.alias_targets(name)
        if not targets:
            raise UnknownModuleError(
                name, f"is no module, alias or built-in module of {self.index.path}"
            )
        try:
            blacklist = read_blacklist(self.root)
        except ValueError as error:
            raise ModuleIndexError(name, str(error)) from None
        allowed = [target for target in targets if target not in blacklist]
        if not allowed:
            raise UnknownModuleError(
                name, f"is an alias only of blacklisted modules ({', '.join(targets)})"
            )
        if len(allowed) > 1:
            raise AmbiguousAliasError(
                name, f"is an alias of {len(allowed)} modules ({', '.join(allowed)}); name one"
            )
        [module] = allowed
        if not self._present(module, index) and index.file_of(module) is None:
            raise UnknownModuleError(
                name, f"is an alias of {module}, which {DEPENDENCIES} does not list"
            )
        return self._module(module, index)

    def _present(self, module: str, index: ModuleIndex | None) -> bool:
        """Whether the kernel has `module`: loaded, or built in (by /sys/module or the index)."""
        try:
            in_kernel = module in self.kernel.loaded() or self.kernel.is_builtin(module)
        except ValueError as error:
            raise ModuleReadError(module, str(error)) from None
        return in_kernel or (index is not None and index.is_builtin(module))

    @staticmethod
    def _module(module: str, index: ModuleIndex) -> Resolution:
        """A module's file and dependencies; none when the index does not know it."""
        file = index.file_of(module)
        if file is None:
            return Resolution(module)
        try:
            return Resolution(module, file, index.dependencies_of(module))
        except ValueError as error:
            raise ModuleIndexError(module, str(error)) from None

    def _inspect(self, module: str) -> ModuleInfo:
        try:
            builtin = self.index.read().is_builtin(module)
        except ValueError:
            builtin = False  # no index: /sys/module alone says what is built in
        try:
            return self.kernel.info(module, builtin=builtin)
        except ValueError as error:
            raise ModuleReadError(module, str(error)) from None

    def _load(self, resolution: Resolution, parameters: Mapping[str, str]) -> None:
        module = resolution.module
        with self._changing:
            try:
                loaded = self.kernel.loaded()
                compression = self.kernel.compression()
            except ValueError as error:
                raise ModuleReadError(module, str(error)) from None
            for dependency in resolution.dependencies:
                if dependency.name not in loaded:
                    self._insert(dependency.name, dependency.file, b"", compression)
            if module in loaded:
                return
            if resolution.file is None:
                raise UnknownModuleError(module, f"is not loaded, and not in {DEPENDENCIES}")
            arguments = parameter_string(parameters).encode()
            self._insert(module, resolution.file, arguments, compression)

    def _insert(self, module: str, file: str, arguments: bytes, compression: str | None) -> None:
        """finit_module for one module file of the index."""
        try:
            fd = open_no_symlinks(f"{self.index.directory}/{file}", os.O_RDONLY)
        except OSError as error:
            raise _file_error(module, f"{self.index.path}/{file}", error) from None
        try:
            with module_image(fd, module, file, compression) as (image, flags):
                try:
                    self._syscalls.finit_module(image, arguments, flags)
                except OSError as error:
                    if error.errno != errno.EEXIST:  # loaded meanwhile: as good
                        raise _load_error(module, error) from None
        except OSError as error:
            raise _file_error(module, f"{self.index.path}/{file}", error) from None
        finally:
            os.close(fd)

    def _unload(self, module: str) -> None:
        with self._changing:
            info = self._inspect(module)
            if info.state == "absent":
                return
            if info.state == "builtin":
                raise ModuleUnloadError(module, "is built into the kernel; it cannot be unloaded")
            if info.refcount or info.holders:
                raise ModuleInUseError(module, _in_use(info))
            try:
                self._syscalls.delete_module(module.encode(), os.O_NONBLOCK)
            except OSError as error:
                if error.errno != errno.ENOENT:  # unloaded meanwhile
                    raise _unload_error(module, info, error) from None


def _in_use(info: ModuleInfo) -> str:
    users = f", used by {', '.join(info.holders)}" if info.holders else ""
    return f"is in use (refcount {info.refcount or 0}{users}); it is unloaded once nothing uses it"


def _file_error(module: str, path: str, error: OSError) -> ModuleReadError:
    if error.errno == errno.ELOOP:
        return ModuleSymlinkError(
            module, f"{path} leads through a symlink; cosid follows none there", error.errno
        )
    return ModuleReadError(
        module, f"{path} cannot be read: {describe_os_error(error)}", error.errno
    )


def _load_error(module: str, error: OSError) -> ModuleError:
    code = error.errno
    described = describe_os_error(error)
    if code == errno.ENOSYS:
        return NoModuleSupportError(
            module, f"the kernel cannot load modules (finit_module: {described})", code
        )
    if code in (errno.EPERM, errno.EACCES):
        return ModulePermissionError(
            module,
            "the kernel does not let cosid load modules (it needs CAP_SYS_MODULE, and "
            f"kernel.modules_disabled must be 0): {described}",
            code,
        )
    if code in _REJECTED:
        return ModuleRejectedError(module, f"{_REJECTED[code]}: {described}", code)
    return ModuleLoadError(module, f"the kernel refused to load it: {described}", code)


def _unload_error(module: str, info: ModuleInfo, error: OSError) -> ModuleError:
    code = error.errno
    described = describe_os_error(error)
    if code in (errno.EWOULDBLOCK, errno.EBUSY):
        return ModuleInUseError(module, f"{_in_use(info)}: {described}", code)
    if code == errno.ENOSYS:
        return NoModuleSupportError(
            module, f"the kernel cannot unload modules (delete_module: {described})", code
        )
    if code in (errno.EPERM, errno.EACCES):
        return ModulePermissionError(
            module, f"the kernel does not let cosid unload modules: {described}", code
        )
    return ModuleUnloadError(module, f"the kernel refused to unload it: {described}", code)
