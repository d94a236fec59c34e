"""The systemd mount driver: mounts are transient ``.mount`` units that systemd (PID 1) starts
and stops, asked over the system bus (org.freedesktop.systemd1).

What systemd does: `mount` is StartTransientUnit of the target's unit (named as
``systemd-escape --path`` names it, `unit_name`) with What, Where, Type and Options, in mode
``fail``; `unmount` is StopUnit of that unit. Each waits for its job's JobRemoved signal (the
driver subscribes before asking, so the signal cannot be missed) and turns a job that did not
end ``done`` into a `MountError` naming the unit and what systemd reported. systemd runs
mount(8) and umount(8) for the unit, in PID 1's mount namespace: the daemon must share it
(the configuration refuses this driver in ``--sandbox``), and the mounts outlive cosid.

What the kernel driver does, as it does it (this driver is one, with `mount` and `unmount`
replaced): the deny lists, the mount table read from mountinfo (so the status, and drift
noticed by POLLPRI, are the same whoever mounted), comparing, making and removing the
target's directories, and changing flags, a tmpfs's size or mode in place (a remount by
mount(2): systemd sees it in mountinfo, and has no call that remounts a unit with new
options). All of it happens in the driver's `MountNamespace`, which must be PID 1's for the
mount table to show systemd's mounts and for a remount to reach them: the daemon's own when it
shares PID 1's, else PID 1's entered (``domains.mounts.namespace: init``).

Units: named after the target's real path (under the root prefix). They are transient, so
they are gone at the next boot, when cosid mounts everything again before it reports READY.
``CollectMode=inactive-or-failed`` has systemd forget a unit as soon as it stops or fails, so
a repair (after someone ran ``umount``) can start it afresh. A target systemd already has a
unit for (mounted by fstab, or by hand) cannot get a transient one: `MountUnitExistsError`.

The target is checked before the unit is started: it must exist (systemd would create a
missing one, which only the spec's ``mkdir`` may ask for) and be reached through no symlink;
so are a bind source and overlay's layers. systemd is then given paths, not the opened
directory the kernel driver mounts on: a symlink put in the way between the check and
mount(8) is followed (a window the kernel driver does not have).

Besides the Protocol's errors, `mount` and `unmount` may raise a
`cosid.drivers.dbus.BusError` (``BusUnavailable``, ``ServiceUnavailable``...) when the bus or
systemd is not there.
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any, Final

from dbus_fast import Variant

from cosid.drivers.dbus import (
    AccessDeniedError,
    BusConnection,
    BusError,
    InvalidArgumentsError,
    SystemBus,
)
from cosid.drivers.mounts.driver import (
    MountBusyError,
    MountError,
    MountInvalidError,
    MountPermissionError,
    MountSourceNotFoundError,
    MountTargetNotFoundError,
)
from cosid.drivers.mounts.kernel import KernelMountDriver
from cosid.drivers.mounts.namespace import MountNamespace
from cosid.drivers.mounts.options import OverlayDirs, mount_data
from cosid.drivers.mounts.policy import TargetPolicy
from cosid.drivers.systemd import JOB_DONE, MANAGER, run_job
from cosid.resources.mounts import OVERLAY, MountOptions, MountSpec

MOUNT_INTERFACE: Final = "org.freedesktop.systemd1.Mount"
UNIT_SUFFIX: Final = ".mount"
UNIT_NAME_MAX: Final = 255
"""The longest unit name systemd accepts (UNIT_NAME_MAX minus its NUL)."""
JOB_MODE: Final = "fail"
"""Refuse, rather than replace, a job already queued for the unit (someone else's)."""
UNIT_EXISTS: Final = "org.freedesktop.systemd1.UnitExists"
NO_SUCH_UNIT: Final = "org.freedesktop.systemd1.NoSuchUnit"
DEFAULT_JOB_TIMEOUT_SECONDS: Final = 30.0

_UNESCAPED: Final = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.")
"""The bytes systemd keeps as they are in a unit name; any other is written ``\\xNN``."""


class MountUnitExistsError(MountError):
    """systemd already has a unit for the target that is not a transient one cosid can start:
    a mount from fstab or made by hand, or one still being stopped."""

    reason = "UnitExists"


class MountUnitFailedError(MountError):
    """systemd's job for the target's unit did not end ``done``: mount(8) or umount(8)
    failed, timed out, or the job was canceled. The detail quotes systemd's result."""

    reason = "UnitFailed"


def unit_name(path: str) -> str:
    """The mount unit's name for an absolute, normalised path, as ``systemd-escape --path
    --suffix=mount`` writes it: ``/`` is ``-.mount``, ``/mnt/a-b`` is ``mnt-a\\x2db.mount``.

    Raises ValueError when the name would be longer than systemd accepts.
    """
    inner = path.strip("/")
    escaped = _escape(inner.encode()) if inner else "-"
    name = f"{escaped}{UNIT_SUFFIX}"
    if len(name) > UNIT_NAME_MAX:
        raise ValueError(f"its unit name would be {len(name)} characters, over {UNIT_NAME_MAX}")
    return name


def _escape(path: bytes) -> str:
    """systemd's escaping: ``/`` becomes ``-``; ``-``, ``\\``, a leading ``.`` and every byte
    outside `_UNESCAPED` become ``\\xNN`` (lower-case hex, UTF-8 byte by byte)."""
    parts = []
    for index, byte in enumerate(path):
        if byte == ord("/"):
            parts.append("-")
        elif byte in _UNESCAPED and not (index == 0 and byte == ord(".")):
            parts.append(chr(byte))
        else:
            parts.append(f"\\x{byte:02x}")
    return "".join(parts)


def option_words(options: MountOptions) -> list[str]:
    """The mount's own options as mount(8) takes them: every flag said either way (so a
    remount of an adopted mount means the same), ``bind``/``rbind``, and ``atime`` when set."""
    words = [
        "ro" if options.ro else "rw",
        "nosuid" if options.nosuid else "suid",
        "nodev" if options.nodev else "dev",
        "noexec" if options.noexec else "exec",
    ]
    if options.atime is not None:
        words.append(options.atime)
    if options.bind:
        words.append("rbind" if options.recursive else "bind")
    return words


def unit_properties(
    spec: MountSpec, what: str, where: str, overlay: OverlayDirs | None = None
) -> list[tuple[str, Variant]]:
    """StartTransientUnit's properties for the spec's mount of `what` at `where` (both real
    paths, or the file system's name): mount(8) gets the flags first, then the file system's
    options (`mount_data`: size, mode, overlay's directories, ``data``)."""
    data = mount_data(spec, overlay)
    options = ",".join([*option_words(spec.options), *([data] if data else [])])
    properties = [
        ("Description", Variant("s", f"cosid mount of {spec.target}")),
        ("What", Variant("s", what)),
        ("Where", Variant("s", where)),
        ("Options", Variant("s", options)),
        ("CollectMode", Variant("s", "inactive-or-failed")),
    ]
    if spec.fstype is not None:
        properties.append(("Type", Variant("s", spec.fstype)))
    return properties


class SystemdMountDriver(KernelMountDriver):
    """`MountDriver` whose mounts are systemd's transient mount units, asked for on `bus`;
    everything else as `KernelMountDriver` (in `namespace`, which must be PID 1's)."""

    def __init__(
        self,
        root: Path,
        policy: TargetPolicy,
        bus: SystemBus,
        namespace: MountNamespace | None = None,
        job_timeout: float = DEFAULT_JOB_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(root, policy, namespace)
        self.bus = bus
        self.job_timeout = job_timeout

    async def check_systemd(self) -> None:
        """Prove at start-up that systemd answers on the system bus.

        Raises `cosid.drivers.dbus.ServiceUnreachableError` (a ConnectionError) saying why not.
        """
        await self.bus.check(MANAGER)

    def unit(self, target: str) -> str:
        """The name of the target's mount unit (from its real path)."""
        try:
            return unit_name(self.real_path(target))
        except ValueError as error:
            raise MountInvalidError(target, f"cannot be a systemd mount unit: {error}") from None

    async def mount(self, spec: MountSpec) -> None:
        self.check(spec.target)
        unit = self.unit(spec.target)
        properties = await self.namespace.run(partial(self._properties, spec))
        async with self.bus.connect() as connection:
            await self._run_job(
                connection,
                spec.target,
                unit,
                "StartTransientUnit",
                "ssa(sv)a(sa(sv))",
                (unit, JOB_MODE, properties, []),
            )

    async def unmount(self, target: str, *, detach_busy: bool) -> None:
        """As the Protocol says: the unit is stopped, and the mount that was visible must be
        gone after; a busy one is detached by umount2(2), systemd having no lazy stop."""
        self.check(target)
        before = await self.find(target)
        if before is None:
            return
        unit = self.unit(target)
        why = f"systemd stopped {unit}, yet the mount stays"
        try:
            async with self.bus.connect() as connection:
                await self._run_job(connection, target, unit, "StopUnit", "ss", (unit, JOB_MODE))
        except MountUnitFailedError as error:
            why = error.detail
        after = await self.find(target)
        if after is None or after.mount_id != before.mount_id:
            return  # gone (a mount it covered may show now: not this call's to remove)
        if not detach_busy:
            raise MountBusyError(target, f"is still mounted, busy: {why}")
        await super().unmount(target, detach_busy=True)

    def _properties(self, spec: MountSpec) -> list[tuple[str, Variant]]:
        """The unit's properties, its paths checked first (in the namespace)."""
        with self._opened(spec.target, spec.target, MountTargetNotFoundError):
            pass  # it exists, through no symlink: systemd would create a missing one
        overlay = self._checked_overlay(spec) if spec.fstype == OVERLAY else None
        return unit_properties(spec, self._what(spec), self.real_path(spec.target), overlay)

    def _what(self, spec: MountSpec) -> str:
        """The unit's What: a bind mount's source and a block device as real paths (the
        device's links resolved, within the root prefix), else the file system's name."""
        filesystem = spec.filesystem
        if spec.options.bind:
            assert spec.source is not None  # the model requires one
            with self._opened(spec.target, spec.source, MountSourceNotFoundError):
                pass  # it exists, through no symlink
            return self.real_path(spec.source)
        if filesystem is not None and filesystem.block_device:
            return self._device(spec)
        return spec.name

    async def _run_job(
        self,
        connection: BusConnection,
        target: str,
        unit: str,
        method: str,
        signature: str,
        body: tuple[Any, ...],
    ) -> None:
        """Call a Manager method that queues a job for `unit`, and wait until the job ends;
        raise a MountError unless it ended ``done``."""
        try:
            async with asyncio.timeout(self.job_timeout):
                result = await run_job(connection, method, signature, body)
        except BusError as error:
            raise _refusal(target, unit, method, error) from None
        except TimeoutError:
            raise MountUnitFailedError(
                target, f"systemd's job for {unit} did not end within {self.job_timeout:g} s"
            ) from None
        if result != JOB_DONE:
            raise MountUnitFailedError(
                target,
                f"systemd's {method} job for {unit} ended {result!r} "
                f"(journalctl -u {unit} says why)",
            )


def _refusal(target: str, unit: str, method: str, error: BusError) -> MountError | BusError:
    """systemd's refusal to queue a job, in the mount driver's terms where it has them."""
    if error.name == UNIT_EXISTS:
        return MountUnitExistsError(
            target, f"systemd already has {unit}, not a transient unit cosid can start"
        )
    if error.name == NO_SUCH_UNIT:
        return MountUnitFailedError(target, f"{method}: systemd has no unit {unit}")
    if isinstance(error, AccessDeniedError):
        return MountPermissionError(target, f"systemd refused {method}: {error.detail}")
    if isinstance(error, InvalidArgumentsError):
        return MountInvalidError(target, f"systemd refused the unit: {error.detail}")
    return error
