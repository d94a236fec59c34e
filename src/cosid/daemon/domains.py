"""What the daemon serves besides the store itself: each domain's namespaces, types and
controllers, with the drivers the configuration picks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cosid.controllers.hostname import HostnameController
from cosid.controllers.motd import MotdController
from cosid.controllers.sysctl import SysctlController
from cosid.daemon.config import Config
from cosid.drivers.hostname.kernel import KernelHostnameDriver
from cosid.drivers.motd.file import FileMotdDriver
from cosid.drivers.sysctl.driver import SysctlDriver
from cosid.drivers.sysctl.isolated import NetworkNamespaceSysctlDriver
from cosid.drivers.sysctl.procfs import ProcfsSysctlDriver
from cosid.resources import hostname, motd, namespaces, sysctl
from cosid.runtime.conditions import CONDITIONS_DEFINITION
from cosid.runtime.controller import Controller
from cosid.state.registry import NamespaceDefinition, ResourceDefinition


@dataclass(frozen=True)
class Domains:
    namespaces: tuple[NamespaceDefinition, ...]
    definitions: tuple[ResourceDefinition, ...]
    controllers: tuple[Controller, ...]


def _sysctl_driver(config: Config) -> SysctlDriver:
    """/proc/sys is the kernel's, not a file under the root prefix; the sandbox isolates only
    the network namespace's part of it."""
    driver = ProcfsSysctlDriver(Path("/"))
    return NetworkNamespaceSysctlDriver(driver) if config.sandbox else driver


def build_domains(config: Config) -> Domains:
    resync = config.resync_seconds
    return Domains(
        namespaces=(namespaces.RUNTIME, namespaces.SYSCTL, namespaces.HOSTNAME, namespaces.MOTD),
        definitions=(
            CONDITIONS_DEFINITION,
            *sysctl.DEFINITIONS,
            *hostname.DEFINITIONS,
            *motd.DEFINITIONS,
        ),
        controllers=(
            SysctlController(_sysctl_driver(config), resync),
            HostnameController(KernelHostnameDriver(config.root), resync),
            MotdController(FileMotdDriver(config.root), resync),
        ),
    )
