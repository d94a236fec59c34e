"""Daemon configuration: a YAML file validated by pydantic, with command-line overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from cosid.endpoint import DEFAULT_ENDPOINT, unix_socket_path
from cosid.server.limits import Limits
from cosid.server.roles import Role
from cosid.state.registry import NamespaceDefinition
from cosid.state.sqlite import Synchronous
from cosid.state.store import DEFAULT_HISTORY_CAPACITY
from cosid.tcp_endpoint import is_tcp, tcp_target

DEFAULT_STATE_DIR = Path("/var/lib/cosid")
SANDBOX_ROOT = "sandbox-root"
"""The sandbox's root prefix when none is given: a directory of that name in the state dir."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NamespaceConfig(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=63)
    description: str = ""
    durable: bool = False
    """Kept across restarts (specs); otherwise rebuilt each run (observed status)."""
    open: bool = False
    """Accepts any type opaquely, for plugins and external controllers."""

    def definition(self) -> NamespaceDefinition:
        return NamespaceDefinition(self.name, self.description, self.durable, self.open)


DEFAULT_NAMESPACES = (
    NamespaceConfig(
        name="default",
        description="Resources of any type from clients, plugins and external controllers.",
        durable=True,
        open=True,
    ),
)


class TlsConfig(_Strict):
    """A TCP listener's certificate and key, and the CAs whose client certificates it accepts."""

    cert: Path
    key: Path
    client_ca: Path
    """PEM CA certificates: a client must present a certificate one of them signed."""

    @model_validator(mode="before")
    @classmethod
    def _mutual(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("client_ca") is None:
            raise ValueError(
                "client_ca is required: TCP is served only with mutual TLS, and the role of a "
                "caller comes from its client certificate"
            )
        return data


class ListenerConfig(_Strict):
    """A unix socket and the role of every caller on it: its mode and group say who can
    connect, since gRPC does not tell the daemon who did. Or a TCP address with mutual TLS,
    where each caller's role is its client certificate's, at most `role`."""

    listen: str
    """`unix:///path`, or `tcp://host:port` (with `tls`)."""
    role: Role
    mode: int = Field(0o660, ge=0, le=0o777)
    group: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$", max_length=32)
    """The socket's group (a name), for `mode`'s group bits; null: the daemon's own."""
    tls: TlsConfig | None = None
    """TCP only, and required there."""

    @field_validator("listen")
    @classmethod
    def _unix_socket_or_tcp(cls, listen: str) -> str:
        """Checked (EndpointError is a ValueError: pydantic names the field), and a socket
        spelled `unix:///path` however it is given, so a socket listed twice is seen."""
        if is_tcp(listen):
            tcp_target(listen)
            return listen
        return f"unix://{unix_socket_path(listen)}"

    @model_validator(mode="after")
    def _tls_on_tcp_only(self) -> ListenerConfig:
        if not is_tcp(self.listen):
            if self.tls is not None:
                raise ValueError("tls is for TCP listeners (tcp://host:port), not unix sockets")
            return self
        if self.tls is None:
            raise ValueError(
                f"{self.listen}: TCP is served only with mutual TLS; give tls with cert, key "
                "and client_ca"
            )
        unix_only = sorted({"mode", "group"} & self.model_fields_set)
        if unix_only:
            raise ValueError(f"{', '.join(unix_only)}: only unix sockets have a mode and group")
        return self


class StateConfig(_Strict):
    backend: Literal["sqlite", "memory"] = "sqlite"
    sync: Synchronous = Synchronous.FULL
    """sqlite: `full` survives power loss, `normal` only a daemon crash (faster writes)."""
    history: int = Field(DEFAULT_HISTORY_CAPACITY, ge=16, le=10_000_000)
    """Events kept per type for tail_events and bookmarks; a slower watcher is cut off."""


class DomainConfig(_Strict):
    """What every domain's settings have; each domain adds its `driver` (a Literal of the
    implementations that exist, so a name that does not is refused with the allowed ones)."""

    resync_seconds: float | None = Field(None, gt=0)
    """Overrides the top-level `resync_seconds` for this domain's controllers (null: only on
    events); unset, the domain inherits it (`Config.resync_seconds_of`)."""
    inherits_resync: ClassVar[bool] = True
    """False for a domain whose own default is not the top level's."""


class SysctlConfig(DomainConfig):
    driver: Literal["procfs"] = "procfs"
    """procfs: writes /proc/sys directly."""
    persist: bool = False
    """Also keep every spec in `<root>/etc/sysctl.d/90-cosid.conf`, so the values hold early at
    boot, before cosid starts."""


class HostnameConfig(DomainConfig):
    driver: Literal["kernel", "hostnamed"] = "kernel"
    """kernel: sethostname(2) and `<root>/etc/hostname`; hostnamed: systemd-hostnamed on the
    system bus (the host's /etc/hostname: it knows no root prefix)."""


class MotdConfig(DomainConfig):
    driver: Literal["file"] = "file"
    """file: `<root>/etc/motd`."""


class DnsConfig(DomainConfig):
    driver: Literal["resolvconf", "resolved"] = "resolvconf"
    """resolvconf: `<root>/etc/resolv.conf`; resolved: systemd-resolved's global settings,
    a drop-in `<root>/etc/systemd/resolved.conf.d/90-cosid.conf` and a restart through
    systemd on the system bus."""
    symlink: Literal["replace", "follow"] = "replace"
    """When /etc/resolv.conf is a symlink (to a stub resolver's file, say): replace the link
    with a file of cosid's, or write the file it points to (which must be under the root)."""


class ModulesConfig(DomainConfig):
    driver: Literal["kernel"] = "kernel"
    """kernel: finit_module(2) and delete_module(2), with cosid's own dependency resolution."""
    persist: bool = False
    """Also keep the specs in `<root>/etc/modules-load.d/cosid.conf` and
    `<root>/etc/modprobe.d/cosid.conf`, so the modules load early at boot."""


class MountsConfig(DomainConfig):
    driver: Literal["kernel", "systemd"] = "kernel"
    """kernel: mount(2) and umount2(2); systemd: transient mount units started and stopped by
    systemd over the system bus (in PID 1's mount namespace, so not in the sandbox)."""
    namespace: Literal["own", "init"] = "own"
    """Where the drivers mount, unmount, remount and read the mount table: own: the daemon's
    mount namespace (the sandbox's private one); init: PID 1's, entered by a worker thread (so
    a service with a mount namespace of its own, hardened cosid.service, mounts on the node;
    not in the sandbox; needs CAP_SYS_ADMIN, CAP_SYS_CHROOT and CAP_SYS_PTRACE)."""
    lazy_unmount: bool = False
    """Deleting a spec detaches a busy mount (MNT_DETACH) instead of failing until it is free."""
    deny: tuple[str, ...] = ("/",)
    """Targets refused exactly."""
    deny_below: tuple[str, ...] = ("/proc", "/sys", "/dev", "/run/cosid")
    """Targets refused, with everything below them."""


class NetworkConfig(DomainConfig):
    driver: Literal["netlink"] = "netlink"
    """netlink: rtnetlink through pyroute2 (links, addresses, routes), status from its events."""
    resync_seconds: float | None = Field(300.0, gt=0)
    """The kernel announces every change of links, addresses and routes, so the resync is only
    a safety net: unlike the other domains, this one does not inherit the top level's."""
    inherits_resync: ClassVar[bool] = False


class DomainsConfig(_Strict):
    sysctl: SysctlConfig = SysctlConfig()
    hostname: HostnameConfig = HostnameConfig()
    motd: MotdConfig = MotdConfig()
    dns: DnsConfig = DnsConfig()
    modules: ModulesConfig = ModulesConfig()
    mounts: MountsConfig = MountsConfig()
    network: NetworkConfig = NetworkConfig()


class Config(_Strict):
    listen: str = DEFAULT_ENDPOINT
    """The admin socket (`--listen`); `listeners` adds sockets of other roles."""
    socket_mode: int = Field(0o660, ge=0, le=0o777)
    """The admin socket's mode."""
    listeners: tuple[ListenerConfig, ...] = ()
    """More sockets, each with its role, mode and group (see docs/security.md)."""
    audit_log: Path | None = None
    """A file for the audit lines (mutations and denied calls); null: the main log."""
    state_dir: Path = DEFAULT_STATE_DIR
    state: StateConfig = StateConfig()
    namespaces: tuple[NamespaceConfig, ...] = DEFAULT_NAMESPACES
    limits: Limits = Limits()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_grace_seconds: float = Field(5.0, ge=0)
    resync_seconds: float | None = Field(60.0, gt=0)
    """How often controllers re-check state the kernel does not announce (e.g. /proc/sys);
    null: only on events. The default of every domain that sets none of its own."""
    domains: DomainsConfig = DomainsConfig()
    sandbox: StrictBool = False  # strict: `_sandbox_root` sees the value as given
    """Run in fresh network, mount and UTS namespaces (see `cosid.daemon.sandbox`)."""
    netns: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", max_length=255)
    """A named network namespace (/run/netns/NAME) to manage instead of the host's network
    (`ip netns add NAME` makes one); not with `sandbox`, which makes its own."""
    root: Path = Path("/")
    """The prefix drivers write files under (/etc/hostname, /etc/motd...); in the sandbox it
    defaults to `<state_dir>/sandbox-root`."""

    @property
    def all_listeners(self) -> tuple[ListenerConfig, ...]:
        """The admin socket at `listen`, then `listeners`."""
        admin = ListenerConfig(listen=self.listen, role=Role.ADMIN, mode=self.socket_mode)
        return (admin, *self.listeners)

    def resync_seconds_of(self, domain: DomainConfig) -> float | None:
        """The domain's own `resync_seconds` when its settings name one (null included), else
        the top level's: a domain set to events only must not fall back to the default."""
        if "resync_seconds" in domain.model_fields_set or not domain.inherits_resync:
            return domain.resync_seconds
        return self.resync_seconds

    @model_validator(mode="before")
    @classmethod
    def _sandbox_root(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("sandbox") is True and data.get("root") is None:
            state_dir = Path(data.get("state_dir") or DEFAULT_STATE_DIR)
            data = {**data, "root": state_dir.absolute() / SANDBOX_ROOT}
        return data

    @field_validator("root")
    @classmethod
    def _plain_absolute(cls, root: Path) -> Path:
        if not root.is_absolute() or ".." in root.parts:
            raise ValueError(f"root must be an absolute path without '..', not {root}")
        return root

    @model_validator(mode="after")
    def _sandbox_keeps_host_files(self) -> Config:
        if self.sandbox and self.root == Path("/"):
            raise ValueError("a sandbox with root / would write the host's files; pick another")
        if self.sandbox and self.netns is not None:
            raise ValueError("netns and sandbox both choose the network namespace: pick one")
        if self.netns in (".", ".."):
            raise ValueError(f"netns {self.netns!r} is not a namespace name")
        reaching = self._reaching_the_host()
        if self.sandbox and reaching:
            setting, why = reaching[0]
            raise ValueError(f"{setting} cannot run in a sandbox: {why}")
        return self

    def _reaching_the_host(self) -> list[tuple[str, str]]:
        """The chosen settings that act through something outside any sandbox (the setting,
        and why it would reach the host)."""
        domains = self.domains
        chosen = [
            (
                domains.hostname.driver == "hostnamed",
                "domains.hostname.driver hostnamed",
                "systemd-hostnamed is outside it and would set the host's names",
            ),
            (
                domains.dns.driver == "resolved",
                "domains.dns.driver resolved",
                "systemd-resolved is outside it and would change the host's DNS",
            ),
            (
                domains.mounts.driver == "systemd",
                "domains.mounts.driver systemd",
                "systemd mounts in its own mount namespace, the host's",
            ),
            (
                domains.mounts.namespace == "init",
                "domains.mounts.namespace init",
                "PID 1's mount namespace is the host's",
            ),
        ]
        return [(setting, why) for taken, setting, why in chosen if taken]

    @model_validator(mode="after")
    def _one_listener_per_socket(self) -> Config:
        addresses = [listener.listen for listener in self.all_listeners]
        duplicates = sorted({a for a in addresses if addresses.count(a) > 1})
        if duplicates:
            raise ValueError(f"sockets listed more than once: {', '.join(duplicates)}")
        return self

    @field_validator("namespaces")
    @classmethod
    def _unique_names(cls, namespaces: tuple[NamespaceConfig, ...]) -> tuple[NamespaceConfig, ...]:
        names = [ns.name for ns in namespaces]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"namespaces defined more than once: {', '.join(duplicates)}")
        return namespaces


class ConfigError(Exception):
    """A configuration that cannot be used; the message says where and why."""


def load_config(path: Path | None, overrides: dict[str, object]) -> Config:
    """The file's settings (if any), then every non-None override on top."""
    document: dict[str, object] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"cannot read config {path}: {error}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config {path}: expected a mapping at the top level")
        document = loaded
    document.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return Config.model_validate(document)
    except ValidationError as error:
        raise ConfigError(f"invalid config: {error}") from None
