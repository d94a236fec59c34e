"""The kernel mount driver: mount(2) and umount2(2), and the mount table in mountinfo.

Namespaces: mounts belong to a mount namespace, and a thread may have its own (tests give one
a namespace of its own; the daemon has one for all its threads, a private one in
``--sandbox``, and a hardened service's own). Every method's blocking work (path lookups,
mount(2), umount2(2), mkdir, reading mountinfo) runs as one call in the driver's
`MountNamespace`: inline on the caller's thread (`OwnMountNamespace`: a mount's few
milliseconds are spent inline, mounting being rare), or on a worker thread that entered PID 1's
namespace (`EnteredMountNamespace`). The table it reads and the watcher it starts are that
namespace's too.

Paths: targets, bind sources, devices and overlay layers are node paths, put under the root
prefix (resolved once, when the driver is made). No symlink is followed below it: the target
and a bind source are opened with `open_no_symlinks` and handed to the kernel as their
``/proc/self/fd`` links, so what is mounted on is exactly what was checked; an unmount names
the target relative to its opened parent, with UMOUNT_NOFOLLOW. Overlay layers go into the
option string as paths, so they are checked to be free of symlinks just before the mount.
Block devices are the one exception: a device is often named through a link
(/dev/disk/by-uuid/...), so its path is resolved, and must stay under the root prefix.

The mount at a target is the one path resolution reaches there (the ``mnt_id`` of the target
opened, from /proc/self/fdinfo), looked up in mountinfo: the topmost of mounts stacked there,
and none when a mount on a directory above hides the target's own.

Mounting stacks on whatever is mounted at the target (as mount(8) does); a bind mount takes
its flags in a second step (MS_REMOUNT | MS_BIND), and is undone if that fails, so a bind
meant read-only is never left writable. Changing flags in place is a remount: of the mount
alone for a bind, of the file system too otherwise (so ``ro`` holds for the file system, and a
tmpfs can grow or shrink). A tmpfs's or ramfs's mode is its root directory's: compared with
and changed by chmod, not by remounting.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Final

from cosid.drivers import libc
from cosid.drivers.errors import describe_os_error
from cosid.drivers.mounts import mountinfo
from cosid.drivers.mounts.driver import (
    Fit,
    MountBusyError,
    MountError,
    MountInvalidError,
    MountNotAppliedError,
    MountPermissionError,
    MountReadError,
    MountReadOnlyError,
    MountSourceNotFoundError,
    MountSymlinkError,
    MountTargetNotFoundError,
    MountUnknownFilesystemError,
)
from cosid.drivers.mounts.mountinfo import MountEntry
from cosid.drivers.mounts.namespace import MountNamespace, OwnMountNamespace
from cosid.drivers.mounts.options import (
    MS_BIND,
    MS_REC,
    MS_REMOUNT,
    OverlayDirs,
    flags_match,
    mount_data,
    mount_flags,
    remount_data,
    size_matches,
)
from cosid.drivers.mounts.policy import TargetPolicy
from cosid.drivers.mounts.watch import MountTableWatcher
from cosid.drivers.paths import open_no_symlinks
from cosid.resources.mounts import OVERLAY, MountSpec

MNT_DETACH: Final = 0x2
UMOUNT_NOFOLLOW: Final = 0x8
NEW_DIRECTORY_MODE: Final = 0o755

_OVERLAY_SYNTAX: Final = frozenset(",:=\\")
_NOT_EMPTY: Final = (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY)


class KernelMountDriver:
    """`MountDriver` over the mount namespace `namespace` (the calling thread's unless told),
    with node paths under `root` and the targets `policy` allows."""

    def __init__(
        self,
        root: Path,
        policy: TargetPolicy,
        namespace: MountNamespace | None = None,
    ) -> None:
        self.root = os.path.realpath(root)
        self.policy = policy
        self.namespace: MountNamespace = namespace or OwnMountNamespace()

    def check(self, target: str) -> None:
        self.policy.check(target)

    def real_path(self, path: str) -> str:
        """Where a node path is, under the root prefix."""
        if self.root == "/":
            return path
        return self.root if path == "/" else f"{self.root}{path}"

    async def find(self, target: str) -> MountEntry | None:
        return await self.namespace.run(partial(self._find, target))

    async def fit(self, spec: MountSpec, entry: MountEntry | None) -> Fit:
        return await self.namespace.run(partial(self._fit, spec, entry))

    async def missing(self, target: str) -> str | None:
        return await self.namespace.run(partial(self._missing, target))

    async def make_directories(self, target: str) -> None:
        await self.namespace.run(partial(self._make_directories, target))

    async def mount(self, spec: MountSpec) -> None:
        await self.namespace.run(partial(self._mount_spec, spec))

    async def reconfigure(self, spec: MountSpec) -> None:
        await self.namespace.run(partial(self._reconfigure, spec))

    async def unmount(self, target: str, *, detach_busy: bool) -> None:
        await self.namespace.run(partial(self._unmount, target, detach_busy))

    async def remove_directories(self, target: str, created_from: str) -> None:
        await self.namespace.run(partial(self._remove_directories, target, created_from))

    def changes(self) -> MountTableWatcher:
        return MountTableWatcher(self.namespace.table)

    def _find(self, target: str) -> MountEntry | None:
        real = self.real_path(target)
        try:
            fd = open_no_symlinks(real, os.O_PATH)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise _path_error(target, target, error, MountTargetNotFoundError) from None
        try:
            visible = _mount_id(fd)
            entries = mountinfo.read(self.namespace.table)
        except OSError as error:
            raise MountReadError(
                target, f"cannot read the mount table: {describe_os_error(error)}", error.errno
            ) from None
        finally:
            os.close(fd)
        entry = next((entry for entry in entries if entry.mount_id == visible), None)
        return entry if entry is not None and entry.mount_point == real else None

    def _fit(self, spec: MountSpec, entry: MountEntry | None) -> Fit:
        if entry is None or not self._same_filesystem(spec, entry):
            return Fit.OTHER
        if flags_match(spec.options, entry) and size_matches(spec.options, entry):
            return Fit.SAME if self._mode_matches(spec) else Fit.ADJUSTABLE
        return Fit.ADJUSTABLE

    def _missing(self, target: str) -> str | None:
        if self._exists(target, target):
            return None
        path = "/"
        for component in target.split("/")[1:]:
            path = posixpath.join(path, component)
            if not self._exists(target, path):
                return path
        return None  # created meanwhile

    def _make_directories(self, target: str) -> None:
        self.check(target)
        path = "/"
        for component in target.split("/")[1:]:
            with self._opened(target, path, MountTargetNotFoundError) as parent:
                try:
                    _make_directory(parent, component)
                except OSError as error:
                    created = posixpath.join(path, component)
                    raise _directory_error(target, f"cannot create {created}", error) from None
            path = posixpath.join(path, component)

    def _mount_spec(self, spec: MountSpec) -> None:
        self.check(spec.target)
        with self._opened(spec.target, spec.target, MountTargetNotFoundError) as target:
            if spec.options.bind:
                self._bind(spec, _linked(target))
            else:
                self._mount_filesystem(spec, _linked(target))

    def _reconfigure(self, spec: MountSpec) -> None:
        self.check(spec.target)
        entry = self._find(spec.target)
        if entry is None:
            raise MountNotAppliedError(spec.target, "nothing is mounted there to change")
        steps = []
        if not (flags_match(spec.options, entry) and size_matches(spec.options, entry)):
            steps.append(self._remount)
        if not self._mode_matches(spec):
            # The root directory's mode changes while the mount is writable: before a remount
            # read-only, after a remount read-write.
            steps.insert(0 if "rw" in entry.mount_options else len(steps), self._chmod)
        for step in steps:
            step(spec)

    def _unmount(self, target: str, detach_busy: bool) -> None:
        self.check(target)
        if target == "/" and self.root == "/":
            raise MountInvalidError(target, "cosid does not unmount the node's root")
        parent, name = posixpath.split(self.real_path(target))
        with self._opened_real(target, parent) as opened:
            path = os.fsencode(f"{_linked(opened)}/{name}")
            try:
                libc.umount2(path, UMOUNT_NOFOLLOW)
            except OSError as error:
                if error.errno in (errno.EINVAL, errno.ENOENT):
                    return  # not a mount point (any more): nothing to unmount
                if error.errno != errno.EBUSY or not detach_busy:
                    raise _unmount_error(target, error) from None
                try:
                    libc.umount2(path, UMOUNT_NOFOLLOW | MNT_DETACH)
                except OSError as detach_error:
                    raise _unmount_error(target, detach_error) from None

    def _remove_directories(self, target: str, created_from: str) -> None:
        self.check(target)
        if target != created_from and not target.startswith(f"{created_from}/"):
            return  # not a directory on the way to the target: not cosid's to remove
        path = target
        while self._remove_directory(target, path) and path != created_from:
            path = posixpath.dirname(path)

    def _remove_directory(self, target: str, path: str) -> bool:
        """Remove the empty directory `path`; False when it is not empty (or a mount point),
        True when it was removed or was not there."""
        parent, name = posixpath.split(path)
        try:
            with self._opened(target, parent, MountTargetNotFoundError) as opened:
                os.rmdir(name, dir_fd=opened)
        except (MountTargetNotFoundError, FileNotFoundError):
            return True
        except OSError as error:
            if error.errno in _NOT_EMPTY:
                return False
            raise _directory_error(target, f"cannot remove {path}", error) from None
        return True

    def _same_filesystem(self, spec: MountSpec, entry: MountEntry) -> bool:
        if spec.options.bind:
            assert spec.source is not None  # the model requires one
            source = self._identity(spec.source)
            return source is not None and source == self._identity(spec.target)
        if entry.fstype != spec.fstype:
            return False
        if spec.fstype == OVERLAY:
            return self._overlay_dirs(spec).shown_by(entry)
        filesystem = spec.filesystem
        if filesystem is not None and filesystem.block_device:
            assert spec.source is not None  # the model requires one
            return entry.source == os.path.realpath(self.real_path(spec.source))
        return entry.source == spec.name

    def _mode_matches(self, spec: MountSpec) -> bool:
        if spec.options.mode is None:
            return True
        try:
            fd = open_no_symlinks(self.real_path(spec.target), os.O_PATH)
        except OSError:
            return False
        try:
            return stat.S_IMODE(os.fstat(fd).st_mode) == int(spec.options.mode, 8)
        finally:
            os.close(fd)

    def _identity(self, path: str) -> tuple[int, int] | None:
        """The device and inode at a node path (mounts crossed, no symlinks); None if none."""
        try:
            fd = open_no_symlinks(self.real_path(path), os.O_PATH)
        except OSError:
            return None
        try:
            status = os.fstat(fd)
        finally:
            os.close(fd)
        return status.st_dev, status.st_ino

    def _bind(self, spec: MountSpec, target: str) -> None:
        assert spec.source is not None  # the model requires one
        flags = MS_BIND | (MS_REC if spec.options.recursive else 0)
        with self._opened(spec.target, spec.source, MountSourceNotFoundError) as source:
            _mount(spec.target, _linked(source), target, None, flags, None)
        try:
            self._remount(spec)
        except MountError:
            self._undo(spec.target)  # never leave a bind meant read-only writable
            raise

    def _mount_filesystem(self, spec: MountSpec, target: str) -> None:
        assert spec.fstype is not None  # the model requires one without bind
        filesystem = spec.filesystem
        if filesystem is not None and filesystem.block_device:
            source = self._device(spec)
        else:
            source = spec.name
        overlay = self._checked_overlay(spec) if spec.fstype == OVERLAY else None
        data = mount_data(spec, overlay)
        _mount(spec.target, source, target, spec.fstype, mount_flags(spec.options), data or None)

    def _remount(self, spec: MountSpec) -> None:
        """The topmost mount's flags (and a tmpfs's size), in place."""
        options = spec.options
        with self._opened(spec.target, spec.target, MountTargetNotFoundError) as mounted:
            if options.bind:
                flags, data = MS_REMOUNT | MS_BIND | mount_flags(options), None
            else:
                flags, data = MS_REMOUNT | mount_flags(options), remount_data(spec)
            _mount(spec.target, None, _linked(mounted), None, flags, data)

    def _chmod(self, spec: MountSpec) -> None:
        assert spec.options.mode is not None
        try:
            fd = open_no_symlinks(self.real_path(spec.target), os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fchmod(fd, int(spec.options.mode, 8))
            finally:
                os.close(fd)
        except OSError as error:
            raise _directory_error(spec.target, "cannot change its mode", error) from None

    def _undo(self, target: str) -> None:
        """Detach the mount just made at `target` (nothing can use it yet)."""
        parent, name = posixpath.split(self.real_path(target))
        with self._opened_real(target, parent) as opened:
            try:
                libc.umount2(os.fsencode(f"{_linked(opened)}/{name}"), UMOUNT_NOFOLLOW | MNT_DETACH)
            except OSError as error:
                raise _unmount_error(target, error) from None

    def _device(self, spec: MountSpec) -> str:
        """The block device's real path: links followed, but only to a device under the root
        prefix."""
        assert spec.source is not None  # the model requires one for a block file system
        resolved = os.path.realpath(self.real_path(spec.source))
        if self.root != "/" and not resolved.startswith(f"{self.root}/"):
            raise MountSymlinkError(spec.target, f"source {spec.source} leads out of the root")
        try:
            status = os.stat(resolved)
        except OSError as error:
            raise MountSourceNotFoundError(
                spec.target, f"source {spec.source}: {describe_os_error(error)}", error.errno
            ) from None
        if not stat.S_ISBLK(status.st_mode):
            raise MountInvalidError(spec.target, f"source {spec.source} is not a block device")
        return resolved

    def _overlay_dirs(self, spec: MountSpec) -> OverlayDirs:
        options = spec.options
        return OverlayDirs(
            lower=tuple(self.real_path(layer) for layer in options.lowerdir),
            upper=None if options.upperdir is None else self.real_path(options.upperdir),
            work=None if options.workdir is None else self.real_path(options.workdir),
        )

    def _checked_overlay(self, spec: MountSpec) -> OverlayDirs:
        """The overlay's directories, each checked to exist, be a directory reached through no
        symlink, and be writable into the option string."""
        options = spec.options
        for layer in (*options.lowerdir, options.upperdir, options.workdir):
            if layer is None:
                continue
            with self._opened(
                spec.target, layer, MountSourceNotFoundError, os.O_PATH | os.O_DIRECTORY
            ):
                pass
            if _OVERLAY_SYNTAX & set(self.real_path(layer)):
                raise MountInvalidError(
                    spec.target, f"overlay layer {layer}: the root prefix has ',', ':', '=' or '\\'"
                )
        return self._overlay_dirs(spec)

    def _exists(self, target: str, path: str) -> bool:
        try:
            fd = open_no_symlinks(self.real_path(path), os.O_PATH)
        except OSError as error:
            if error.errno == errno.ENOENT:
                return False
            raise _path_error(target, path, error, MountTargetNotFoundError) from None
        os.close(fd)
        return True

    @contextmanager
    def _opened(
        self, target: str, path: str, missing: type[MountError], flags: int = os.O_PATH
    ) -> Iterator[int]:
        """The node path `path` opened with no symlink followed (for the spec at `target`)."""
        with self._opened_real(target, self.real_path(path), missing, flags, path) as fd:
            yield fd

    @contextmanager
    def _opened_real(
        self,
        target: str,
        real: str,
        missing: type[MountError] = MountTargetNotFoundError,
        flags: int = os.O_PATH | os.O_DIRECTORY,
        shown: str | None = None,
    ) -> Iterator[int]:
        """`_opened` for a real path (the parent of the root prefix itself, for one); errors
        name it as `shown`."""
        try:
            fd = open_no_symlinks(real, flags)
        except OSError as error:
            raise _path_error(target, shown or real, error, missing) from None
        try:
            yield fd
        finally:
            os.close(fd)


def _mount_id(fd: int) -> int:
    """The id of the mount `fd` has open a file of (its ``mnt_id`` in /proc/self/fdinfo)."""
    with open(f"/proc/self/fdinfo/{fd}", "rb") as info:
        for line in info:
            name, _, value = line.partition(b":")
            if name == b"mnt_id":
                return int(value)
    raise OSError(errno.ENOSYS, f"/proc/self/fdinfo/{fd} has no mnt_id")


def _linked(fd: int) -> str:
    """The path that names exactly what `fd` has open, for calls that take paths (mount(2))."""
    return f"/proc/self/fd/{fd}"


def _make_directory(parent: int, name: str) -> None:
    """`name` in the directory `parent` as a directory of mode 0755 whatever the umask (one
    already there is left as it is)."""
    try:
        os.mkdir(name, NEW_DIRECTORY_MODE, dir_fd=parent)
    except FileExistsError:
        return
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    try:
        os.fchmod(fd, NEW_DIRECTORY_MODE)
    finally:
        os.close(fd)


def _mount(
    target: str, source: str | None, on: str, fstype: str | None, flags: int, data: str | None
) -> None:
    try:
        libc.mount(
            None if source is None else os.fsencode(source),
            os.fsencode(on),
            None if fstype is None else fstype.encode(),
            flags,
            None if data is None else os.fsencode(data),
        )
    except OSError as error:
        raise _mount_error(target, error) from None


def _mount_error(target: str, error: OSError) -> MountError:
    code = error.errno
    detail = describe_os_error(error)
    if code == errno.ENODEV:
        return MountUnknownFilesystemError(
            target, f"the kernel has no such file system type: {detail}", code
        )
    if code == errno.ENOENT:
        return MountSourceNotFoundError(target, f"the source does not exist: {detail}", code)
    if code in (errno.EINVAL, errno.ENOTBLK):
        refused = f"the kernel refused the source or options: {detail}"
        return MountInvalidError(target, refused, code)
    if code in (errno.EPERM, errno.EACCES):
        return MountPermissionError(target, f"not allowed to mount: {detail}", code)
    if code == errno.ELOOP:
        return MountSymlinkError(target, f"a path leads through a symlink: {detail}", code)
    return MountError(target, f"mount failed: {detail}", code)


def _unmount_error(target: str, error: OSError) -> MountError:
    code = error.errno
    detail = describe_os_error(error)
    if code == errno.EBUSY:
        return MountBusyError(target, f"is busy, and lazy unmounts are off: {detail}", code)
    if code in (errno.EPERM, errno.EACCES):
        return MountPermissionError(target, f"not allowed to unmount: {detail}", code)
    return MountError(target, f"unmount failed: {detail}", code)


def _path_error(target: str, path: str, error: OSError, missing: type[MountError]) -> MountError:
    code = error.errno
    if code == errno.ENOENT:
        return missing(target, f"{path} does not exist", code)
    if code == errno.ELOOP:
        return MountSymlinkError(target, f"{path} is reached through a symlink", code)
    if code == errno.ENOTDIR:
        return MountError(target, f"{path}: a path on the way is not a directory", code)
    if code in (errno.EACCES, errno.EPERM):
        return MountPermissionError(target, f"{path}: {describe_os_error(error)}", code)
    return MountError(target, f"{path}: {describe_os_error(error)}", code)


def _directory_error(target: str, what: str, error: OSError) -> MountError:
    code = error.errno
    detail = describe_os_error(error)
    if code == errno.EROFS:
        return MountReadOnlyError(target, f"{what}: read-only file system", code)
    if code in (errno.EACCES, errno.EPERM):
        return MountPermissionError(target, f"{what}: {detail}", code)
    if code == errno.ELOOP:
        return MountSymlinkError(target, f"{what}: a symlink is in the way", code)
    return MountError(target, f"{what}: {detail}", code)
