"""Kernel module drivers: the `ModuleDriver` Protocol, its data and errors (`driver`), the
driver over the running kernel (`kernel`), built from the module index (`index`), modprobe.d's
blacklist (`modprobe_d`), the kernel's view of its modules (`view`) and module images
(`image`); the sandbox's wrapper that loads nothing (`isolated`); the boot-time files
(`persist`)."""

from cosid.drivers.modules.driver import (
    AmbiguousAliasError,
    IndexedModule,
    ModuleCompressionError,
    ModuleDriver,
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

__all__ = [
    "AmbiguousAliasError",
    "IndexedModule",
    "ModuleCompressionError",
    "ModuleDriver",
    "ModuleError",
    "ModuleInUseError",
    "ModuleIndexError",
    "ModuleInfo",
    "ModuleLoadError",
    "ModulePermissionError",
    "ModuleReadError",
    "ModuleRejectedError",
    "ModuleSymlinkError",
    "ModuleUnloadError",
    "NoModuleSupportError",
    "Resolution",
    "UnknownModuleError",
]
