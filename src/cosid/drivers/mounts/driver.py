"""The mount driver interface: find, compare, mount, change and unmount what is at a target;
make and remove its directories; errors that say why not."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from cosid.drivers.errors import DriverError
from cosid.drivers.mounts.mountinfo import MountEntry
from cosid.resources.mounts import MountSpec
from cosid.runtime.controller import Notice


class Fit(StrEnum):
    """How the mount at a target stands to a spec."""

    SAME = "same"
    """The spec's file system, with the spec's flags and options."""
    ADJUSTABLE = "adjustable"
    """The spec's file system and source, with flags, size or mode a remount (or chmod)
    changes in place, keeping what the file system holds."""
    OTHER = "other"
    """Nothing, or another file system or source: only a new mount makes the spec true."""


class MountError(DriverError):
    """Base of the mount driver's errors; the subject is the target (as the node sees it)."""

    reason = "MountFailed"

    @property
    def target(self) -> str:
        return self.subject


class MountDeniedError(MountError):
    """The target is one the configuration keeps cosid away from (``domains.mounts.deny``,
    ``deny_below``)."""

    reason = "DeniedTarget"


class MountReadError(MountError):
    """The mount table cannot be read."""

    reason = "ReadFailed"


class MountSymlinkError(MountError):
    """A path on the way to the target, source or a layer is a symlink, which cosid does not
    follow (or a device's symlink leads out of the root prefix)."""

    reason = "Symlink"


class MountTargetNotFoundError(MountError):
    """The target does not exist (and the spec does not ask for mkdir)."""

    reason = "TargetNotFound"


class MountSourceNotFoundError(MountError):
    """The source, a block device or an overlay layer does not exist."""

    reason = "SourceNotFound"


class MountUnknownFilesystemError(MountError):
    """The running kernel has no such file system type (ENODEV)."""

    reason = "UnknownFilesystem"


class MountInvalidError(MountError):
    """The kernel refused the source or the options (EINVAL, ENOTBLK), or a path cannot be
    written into the option string."""

    reason = "InvalidOptions"


class MountPermissionError(MountError):
    """Not allowed: no CAP_SYS_ADMIN in the mount namespace, a locked mount, a directory not
    writable..."""

    reason = "PermissionDenied"


class MountReadOnlyError(MountError):
    """A directory cannot be created or removed: its file system is read-only."""

    reason = "ReadOnly"


class MountBusyError(MountError):
    """The mount is in use (open files, working directories, mounts below it) and the
    configuration does not allow a lazy unmount (``domains.mounts.lazy_unmount``)."""

    reason = "TargetBusy"


class MountNotAppliedError(MountError):
    """The kernel took the mount or remount, yet shows something other than the spec at the
    target (cosid undoes such a new mount rather than stack another one on the next try)."""

    reason = "NotApplied"


class TableChanges(Protocol):
    """Change notifications of a mount table: iterating yields a Notice once after each change
    (or burst of changes); `close` stops watching and ends the iteration."""

    def __aiter__(self) -> TableChanges: ...

    async def __anext__(self) -> Notice: ...

    def close(self) -> None: ...


class MountDriver(Protocol):
    """Mounts file systems at targets, node paths that each implementation puts under its
    root prefix. Every method that changes something raises `MountDeniedError` for a target
    `check` refuses, and `MountSymlinkError` when a path on the way is a symlink.
    """

    def check(self, target: str) -> None:
        """Raise MountDeniedError if the configuration keeps cosid away from `target`."""
        ...

    async def find(self, target: str) -> MountEntry | None:
        """The mount visible at the target, whoever made it: the topmost when mounts are
        stacked there; None when nothing is mounted there, or what is mounted there is hidden
        under a mount on a directory above it. Raises MountReadError."""
        ...

    async def fit(self, spec: MountSpec, entry: MountEntry | None) -> Fit:
        """How `entry` (found at the spec's target) stands to the spec."""
        ...

    async def missing(self, target: str) -> str | None:
        """The highest directory on the way to the target (the target included) that does not
        exist, which `make_directories` would create; None when the target exists."""
        ...

    async def make_directories(self, target: str) -> None:
        """Create the target directory and its missing parents (0755)."""
        ...

    async def mount(self, spec: MountSpec) -> None:
        """Mount the spec's file system (or bind its source) at the target, on top of whatever
        is mounted there, with its flags and options. Raises a MountError subclass naming
        the reason (MountTargetNotFoundError when the target does not exist)."""
        ...

    async def reconfigure(self, spec: MountSpec) -> None:
        """Give the mount visible at the target (the spec's file system: `Fit.ADJUSTABLE`) the
        spec's flags, size and mode, in place."""
        ...

    async def unmount(self, target: str, *, detach_busy: bool) -> None:
        """Unmount the topmost mount at the target; nothing to do when there is none. A busy
        mount raises MountBusyError, or is detached (lazily unmounted) with `detach_busy`."""
        ...

    async def remove_directories(self, target: str, created_from: str) -> None:
        """Remove the target directory, then its parents up to `created_from`, as long as they
        are empty (one that is not, or has a mount on it, stays, with its parents)."""
        ...

    def changes(self) -> TableChanges:
        """The mount table's changes, watched from this call on (made inside the event loop
        that iterates them); see `cosid.drivers.mounts.watch`."""
        ...
