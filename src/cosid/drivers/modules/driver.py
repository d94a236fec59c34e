"""The kernel module driver interface: resolve a name, read what the kernel has, load and
unload; errors that say why not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cosid.drivers.errors import DriverError
from cosid.resources.modules import PRESENT_STATES, ModuleState


@dataclass(frozen=True, slots=True)
class IndexedModule:
    """A module of the index: its name and its file, relative to /lib/modules/<release>."""

    name: str
    file: str


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a spec's name stands for: the module, its file, and what must load before it."""

    module: str
    file: str | None = None
    """None when the module is built in, or loaded without being in the index."""
    dependencies: tuple[IndexedModule, ...] = ()
    """Every module it needs, in the order they load (each after those it needs)."""

    @property
    def load_order(self) -> tuple[str, ...]:
        """The dependencies, then the module itself."""
        return (*(dependency.name for dependency in self.dependencies), self.module)


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """What the kernel has of one module."""

    name: str
    state: ModuleState
    refcount: int | None = None
    """Users of the loaded module; None unless loaded (or when the kernel cannot unload)."""
    holders: tuple[str, ...] = ()
    """Loaded modules that use this one."""
    parameters: Mapping[str, str] = field(default_factory=dict)
    """The readable parameters the kernel shows, by name."""

    @property
    def present(self) -> bool:
        """Whether the kernel has the module (loaded, loading or built in)."""
        return self.state in PRESENT_STATES


class ModuleError(DriverError):
    """Base of the module driver's errors; the subject reads ``module <name>``."""

    def __init__(self, name: str, detail: str, errno: int | None = None) -> None:
        super().__init__(f"module {name}", detail, errno)
        self.name = name


class UnknownModuleError(ModuleError):
    """The name is no module of the index, no built-in one, and no alias of one."""

    reason = "NotFound"


class AmbiguousAliasError(ModuleError):
    """The name is an alias of several modules; a spec names one module."""

    reason = "AmbiguousAlias"


class ModuleIndexError(ModuleError):
    """The module index (modules.dep, ...) is missing or cannot be read or understood."""

    reason = "BadIndex"


class NoModuleSupportError(ModuleError):
    """The kernel cannot load (or unload) modules: it was built without module support."""

    reason = "NoModuleSupport"


class ModuleReadError(ModuleError):
    """A module file, or what the kernel shows of a module, cannot be read."""

    reason = "ReadFailed"


class ModuleSymlinkError(ModuleReadError):
    """A module file, or a directory on the way to it, is a symlink; cosid follows none."""

    reason = "Symlink"


class ModuleCompressionError(ModuleError):
    """The module file is compressed in a way neither the kernel nor cosid can undo."""

    reason = "CompressionNotSupported"


class ModulePermissionError(ModuleError):
    """The kernel does not let cosid load or unload modules (no CAP_SYS_MODULE, module loading
    disabled by kernel.modules_disabled, a lockdown, ...)."""

    reason = "PermissionDenied"


class ModuleLoadError(ModuleError):
    """The kernel refused to load the module for a reason none of the subclasses names (its
    init function failed, say: ENODEV for a driver without its device)."""

    reason = "LoadFailed"


class ModuleRejectedError(ModuleLoadError):
    """The kernel rejected the image or its parameters: not a module for this kernel, a bad
    signature, an unknown symbol, a value the parameter does not take."""

    reason = "Rejected"


class ModuleInUseError(ModuleError):
    """The module cannot be unloaded while something uses it (its refcount or holders)."""

    reason = "InUse"


class ModuleUnloadError(ModuleError):
    """The kernel refused to unload the module for a reason none of the others names."""

    reason = "UnloadFailed"


class ModuleDriver(Protocol):
    """Resolves module names and loads and unloads modules, the way modprobe(8) would.

    Names are module names or aliases in canonical form (`cosid.resources.modules.parse_name`).
    """

    async def resolve(self, name: str) -> Resolution:
        """The module `name` stands for: itself when the kernel has it (loaded or built in),
        else a module of the index, else the one module an alias names.

        Raises NoModuleSupportError when the kernel has no such module and cannot load one,
        UnknownModuleError, AmbiguousAliasError or ModuleIndexError.
        """
        ...

    async def inspect(self, module: str) -> ModuleInfo:
        """What the kernel has of `module` (``absent`` when nothing). Raises ModuleReadError."""
        ...

    async def load(self, resolution: Resolution, parameters: Mapping[str, str]) -> None:
        """Load every dependency the kernel lacks, in order, then the module with
        `parameters`; a module the kernel already has is left as it is.

        Raises NoModuleSupportError, ModuleReadError, ModuleCompressionError,
        ModulePermissionError or a ModuleLoadError subclass.
        """
        ...

    async def unload(self, module: str) -> None:
        """Unload `module`; nothing to do when it is not loaded.

        Raises ModuleInUseError while something uses it, ModuleUnloadError for a built-in
        module, NoModuleSupportError, ModulePermissionError or ModuleUnloadError.
        """
        ...
