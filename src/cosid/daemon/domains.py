"""What the daemon serves besides the store itself: each domain's namespaces, types and
controllers, with the drivers the configuration picks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosid.controllers.addresses import AddressesController
from cosid.controllers.boot_files import BootFile, BootFilesController, Retirement, Spec
from cosid.controllers.dns import DnsController
from cosid.controllers.hostname import HostnameController
from cosid.controllers.link_resolvers import LinkResolversController
from cosid.controllers.links import LinksController
from cosid.controllers.modules import ModulesController
from cosid.controllers.motd import MotdController
from cosid.controllers.mounts import MountsController
from cosid.controllers.routes import RoutesController
from cosid.controllers.sysctl import SysctlController
from cosid.daemon.config import Config, ModulesConfig, SysctlConfig
from cosid.drivers.dbus import SystemBus
from cosid.drivers.dns.driver import DnsDriver
from cosid.drivers.dns.link_driver import LinkResolverDriver
from cosid.drivers.dns.resolvconf import ResolvConfDriver
from cosid.drivers.dns.resolvconf_links import ResolvConfLinkDriver
from cosid.drivers.dns.resolved import ResolvedDriver
from cosid.drivers.dns.resolved_links import ResolvedLinkDriver
from cosid.drivers.hostname.driver import HostnameDriver
from cosid.drivers.hostname.hostnamed import HostnamedDriver
from cosid.drivers.hostname.kernel import KernelHostnameDriver
from cosid.drivers.modules.driver import ModuleDriver
from cosid.drivers.modules.isolated import SandboxModuleDriver
from cosid.drivers.modules.kernel import KernelModuleDriver
from cosid.drivers.modules.persist import ModuleBootFiles
from cosid.drivers.motd.driver import MotdDriver
from cosid.drivers.motd.file import FileMotdDriver
from cosid.drivers.mounts.kernel import KernelMountDriver
from cosid.drivers.mounts.namespace import (
    EnteredMountNamespace,
    MountNamespace,
    OwnMountNamespace,
)
from cosid.drivers.mounts.policy import TargetPolicy
from cosid.drivers.mounts.systemd import SystemdMountDriver
from cosid.drivers.network.driver import AddressDriver, LinkDriver
from cosid.drivers.network.netlink_network import NetlinkNetwork
from cosid.drivers.network.route_driver import RouteDriver
from cosid.drivers.sysctl.driver import SysctlDriver
from cosid.drivers.sysctl.isolated import NetworkNamespaceSysctlDriver
from cosid.drivers.sysctl.persist import SysctlDFile
from cosid.drivers.sysctl.procfs import ProcfsSysctlDriver
from cosid.observers.network import NetworkObserver
from cosid.resources import (
    addresses,
    dns,
    hostname,
    link_resolvers,
    links,
    modules,
    motd,
    mounts,
    namespaces,
    routes,
    sysctl,
)
from cosid.resources.typed import Admission
from cosid.runtime.conditions import CONDITIONS_DEFINITION
from cosid.runtime.controller import Controller
from cosid.runtime.observer import Observer
from cosid.state.registry import NamespaceDefinition, ResourceDefinition
from cosid.state.resource import Kind


@dataclass(frozen=True)
class StartupCheck:
    """A service a configured driver talks to, proved reachable before the daemon serves: a
    daemon that cannot do what it was configured to do should say so at once, not per spec."""

    setting: str
    """The choice that needs it, as the operator wrote it (`domains.hostname.driver: ...`)."""
    run: Callable[[], Awaitable[None]]
    """Raises a ConnectionError saying what is missing where."""


@dataclass(frozen=True)
class Domains:
    namespaces: tuple[NamespaceDefinition, ...]
    definitions: tuple[ResourceDefinition, ...]
    controllers: tuple[Controller, ...]
    observers: tuple[Observer, ...] = ()
    retirements: tuple[Retirement, ...] = ()
    """Controllers that are off: carried out before the runtime starts."""
    checks: tuple[StartupCheck, ...] = ()
    admissions: tuple[Admission[Any], ...] = ()
    """Rules of the configuration on specs, checked at the edge before a spec is stored."""


def _sysctl_driver(config: Config) -> SysctlDriver:
    """The configured driver; in the sandbox, whichever it is writes only what the sandbox
    isolates (the network namespace's part of /proc/sys)."""
    driver = _sysctl_implementation(config)
    return NetworkNamespaceSysctlDriver(driver) if config.sandbox else driver


def _sysctl_implementation(config: Config) -> SysctlDriver:
    """/proc/sys is the kernel's, not a file under the root prefix."""
    match config.domains.sysctl.driver:
        case "procfs":
            return ProcfsSysctlDriver(Path("/"))


def _hostname_driver(config: Config) -> HostnameDriver:
    """kernel: the UTS namespace's names (the sandbox has its own) and /etc/hostname under the
    root prefix. hostnamed: systemd-hostnamed on the system bus (the config refuses it in the
    sandbox: it would set the host's names)."""
    match config.domains.hostname.driver:
        case "kernel":
            return KernelHostnameDriver(config.root)
        case "hostnamed":
            return HostnamedDriver(SystemBus.from_environment())


def _checks(
    hostname_driver: HostnameDriver, mounts_driver: KernelMountDriver, dns_driver: DnsDriver
) -> tuple[StartupCheck, ...]:
    checks = []
    if isinstance(hostname_driver, HostnamedDriver):
        checks.append(StartupCheck("domains.hostname.driver is hostnamed", hostname_driver.check))
    if isinstance(mounts_driver, SystemdMountDriver):
        checks.append(StartupCheck("domains.mounts.driver is systemd", mounts_driver.check_systemd))
    mounts_namespace = mounts_driver.namespace
    if isinstance(mounts_namespace, EnteredMountNamespace):
        checks.append(StartupCheck("domains.mounts.namespace is init", mounts_namespace.check))
    if isinstance(dns_driver, ResolvedDriver):
        checks.append(StartupCheck("domains.dns.driver is resolved", dns_driver.check))
    return tuple(checks)


def _motd_driver(config: Config) -> MotdDriver:
    """/etc/motd is under the root prefix (a private directory in the sandbox)."""
    match config.domains.motd.driver:
        case "file":
            return FileMotdDriver(config.root)


def _dns_driver(config: Config) -> DnsDriver:
    """/etc/resolv.conf is under the root prefix (a private directory in the sandbox); what a
    symlink there means is the configuration's `symlink`. resolved: systemd-resolved on the
    system bus, its drop-in under the root prefix (the config refuses it in the sandbox: it
    would change the host's DNS)."""
    settings = config.domains.dns
    match settings.driver:
        case "resolvconf":
            return ResolvConfDriver(config.root, symlink=settings.symlink)
        case "resolved":
            return ResolvedDriver(config.root, SystemBus.from_environment())


def _link_resolver_driver(config: Config) -> LinkResolverDriver:
    """resolved: its per-link settings over the system bus, links named as in the daemon's
    network namespace. resolvconf: resolv.conf has no per-link settings, so every spec is
    refused (``Unsupported``)."""
    match config.domains.dns.driver:
        case "resolvconf":
            return ResolvConfLinkDriver()
        case "resolved":
            return ResolvedLinkDriver(SystemBus.from_environment())


def _modules_driver(config: Config) -> ModuleDriver:
    """The configured driver; in the sandbox, whichever it is loads and unloads nothing (no
    namespace isolates kernel modules)."""
    driver = _modules_implementation(config)
    return SandboxModuleDriver(driver) if config.sandbox else driver


def _modules_implementation(config: Config) -> ModuleDriver:
    """The module index (/lib/modules, /etc/modprobe.d) is under the root prefix; /proc, /sys
    and the modules themselves are the kernel's."""
    match config.domains.modules.driver:
        case "kernel":
            return KernelModuleDriver(config.root)


def _persistence(
    name: str,
    specs: Kind,
    spec_model: type[Spec],
    files: BootFile[Spec],
    settings: SysctlConfig | ModulesConfig,
    config: Config,
) -> BootFilesController[Spec] | Retirement:
    """The controller of a domain's boot files (sysctl.d; modules-load.d and modprobe.d) when
    the domain's config asks for persistence, else its retirement (the files and its
    finalizers removed at start-up). The files are under the root prefix, like every file
    cosid writes."""
    if not settings.persist:
        return Retirement(name, specs, files)
    return BootFilesController(name, specs, spec_model, files, config.resync_seconds_of(settings))


def _mounts_policy(config: Config) -> TargetPolicy:
    """The deny lists: the driver's own check, and the edge's (`_mounts_admission`)."""
    settings = config.domains.mounts
    return TargetPolicy(settings.deny, settings.deny_below)


def _mounts_admission(policy: TargetPolicy) -> Admission[mounts.MountSpec]:
    """A denied target is refused when applied (INVALID_ARGUMENT naming ``spec.target``), not
    stored for the controller to refuse."""
    return Admission(mounts.SPECS, mounts.MountSpec, policy.violations)


def _mounts_namespace(config: Config) -> MountNamespace:
    """own: the daemon's mount namespace (the sandbox's own, private one). init: PID 1's, for a
    service confined to a namespace of its own (the config refuses it in the sandbox)."""
    match config.domains.mounts.namespace:
        case "own":
            return OwnMountNamespace()
        case "init":
            return EnteredMountNamespace()


def _mounts_driver(config: Config, policy: TargetPolicy) -> KernelMountDriver:
    """kernel: mounts go into the configured namespace (`_mounts_namespace`). systemd: PID 1
    mounts them in its namespace (the config refuses it in the sandbox); remounts and the
    table are the configured namespace's. Either way at targets under the root prefix, never
    at a target `policy` denies."""
    namespace = _mounts_namespace(config)
    match config.domains.mounts.driver:
        case "kernel":
            return KernelMountDriver(config.root, policy, namespace)
        case "systemd":
            bus = SystemBus.from_environment()
            return SystemdMountDriver(config.root, policy, bus, namespace)


@dataclass(frozen=True)
class _Network:
    links: LinkDriver
    addresses: AddressDriver
    routes: RouteDriver
    observer: Observer
    """Every link, address and route the kernel has, as statuses."""


def _network(config: Config) -> _Network:
    """Links, addresses and routes of the daemon's network namespace (the sandbox's own; the
    one --netns names), over one rtnetlink socket and one mirror of the kernel's objects."""
    match config.domains.network.driver:
        case "netlink":
            netlink = NetlinkNetwork()
            return _Network(
                netlink.links, netlink.addresses, netlink.routes, NetworkObserver(netlink.mirror)
            )


def build_domains(config: Config) -> Domains:
    settings = config.domains
    hostname_driver = _hostname_driver(config)
    dns_driver = _dns_driver(config)
    mounts_policy = _mounts_policy(config)
    mounts_driver = _mounts_driver(config, mounts_policy)
    network = _network(config)
    boot_files = (
        _persistence(
            "sysctl-persist",
            sysctl.SPECS,
            sysctl.SysctlSpec,
            SysctlDFile(config.root),
            settings.sysctl,
            config,
        ),
        _persistence(
            "modules-persist",
            modules.SPECS,
            modules.KernelModuleSpec,
            ModuleBootFiles(config.root),
            settings.modules,
            config,
        ),
    )
    return Domains(
        namespaces=(
            namespaces.RUNTIME,
            namespaces.SYSCTL,
            namespaces.HOSTNAME,
            namespaces.MOTD,
            namespaces.DNS,
            namespaces.MODULES,
            namespaces.MOUNTS,
            namespaces.NETWORK,
        ),
        definitions=(
            CONDITIONS_DEFINITION,
            *sysctl.DEFINITIONS,
            *hostname.DEFINITIONS,
            *motd.DEFINITIONS,
            *dns.DEFINITIONS,
            *link_resolvers.DEFINITIONS,
            *modules.DEFINITIONS,
            *mounts.DEFINITIONS,
            *links.DEFINITIONS,
            *addresses.DEFINITIONS,
            *routes.DEFINITIONS,
        ),
        controllers=(
            SysctlController(_sysctl_driver(config), config.resync_seconds_of(settings.sysctl)),
            HostnameController(hostname_driver, config.resync_seconds_of(settings.hostname)),
            MotdController(_motd_driver(config), config.resync_seconds_of(settings.motd)),
            DnsController(dns_driver, config.resync_seconds_of(settings.dns)),
            LinkResolversController(
                _link_resolver_driver(config), config.resync_seconds_of(settings.dns)
            ),
            ModulesController(_modules_driver(config), config.resync_seconds_of(settings.modules)),
            MountsController(
                mounts_driver,
                config.resync_seconds_of(settings.mounts),
                lazy_unmount=settings.mounts.lazy_unmount,
            ),
            LinksController(network.links, config.resync_seconds_of(settings.network)),
            AddressesController(network.addresses, config.resync_seconds_of(settings.network)),
            RoutesController(network.routes, config.resync_seconds_of(settings.network)),
            *(part for part in boot_files if isinstance(part, BootFilesController)),
        ),
        observers=(network.observer,),
        retirements=tuple(part for part in boot_files if isinstance(part, Retirement)),
        checks=_checks(hostname_driver, mounts_driver, dns_driver),
        admissions=(_mounts_admission(mounts_policy),),
    )
