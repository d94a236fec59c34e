"""The mounts domain's resources: a file system a client wants mounted at a path (spec) and what
the kernel's mount table has there (status).

Targets
-------
The target is the path the file system is mounted on, as the node sees it (drivers put it
under their root prefix), and the resource id: one spec per mount point. It must be absolute
and normalised: no ``.`` or ``..`` components, no ``//``, no trailing ``/``; no control
characters (NUL and line breaks included; spaces are fine), valid Unicode, at most
`MAX_PATH_BYTES` bytes of UTF-8 (the longest resource id) and 255 per component. A normalised
absolute path cannot leave the root prefix lexically; drivers follow no symlink on the way.
Which targets may be mounted on at all (never ``/``, nothing under /proc...) is the daemon's
configuration (``domains.mounts.deny`` and ``deny_below``), which the model cannot see: it is
checked right after the model, at the edge (an `Admission`, built in the daemon's wiring), and
again by the controller.

File systems
------------
``fstype`` is one of `FILESYSTEMS`, the types the kernel driver knows how to mount and
compare: virtual ones (tmpfs, ramfs, proc, sysfs, cgroup2, mqueue), overlay, and those on a
block device (ext4, xfs, btrfs, vfat). Whether the running kernel has the type is found when
it is mounted (reason ``UnknownFilesystem``). A bind mount has no type of its own: it is
``options.bind`` with a ``source`` and no ``fstype``.

``source`` is what is mounted: for a bind mount the directory (or file) to bind, and for a
block file system the device node, both absolute normalised paths on the node; for a virtual
file system or overlay a name the mount table shows (the type's name when left out).

Options
-------
Typed, never free text: ``ro``, ``nosuid``, ``nodev``, ``noexec`` and ``atime`` (``relatime``,
``noatime``, ``strictatime``; left out, the kernel's default) are the mount's flags, and the
spec gives all of them: ``nosuid: false`` means set-user-id programs run. ``bind`` (with
``recursive``, mount --rbind) binds ``source``. For tmpfs, ``size`` is bytes, with a ``k``,
``m``, ``g`` or ``t`` suffix (powers of 1024), or a percentage of RAM (``50%``), normalised to
bytes (``64m`` is ``67108864``) or ``N%``; ``0`` is no limit. For tmpfs and ramfs, ``mode``
is the root directory's permissions: a string of 3 or 4 octal digits (``"1777"``; a YAML
number is refused, since ``0644`` unquoted reads as 420), normalised to 4 digits. For overlay,
``lowerdir`` (the layers, top first), ``upperdir`` and ``workdir`` are absolute normalised
paths without ``,``, ``:``, ``=`` or ``\\`` (the kernel's option syntax); without ``upperdir``
(a read-only overlay) the kernel wants at least two lower layers. ``data`` holds a few more
options per type (`FILESYSTEMS`: ``uid``, ``errors``, ``discard``...), each key allowed for
its type, each value letters, digits and ``_ . : @ + / -`` (no ``,``, ``=``, whitespace or
NUL can reach the kernel's option string), empty for a flag and only for a flag.

``mkdir`` creates the target directory (and missing parents) when it is missing; deleting the
spec removes what cosid created, if it is empty by then.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    NonNegativeInt,
    StrictBool,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from cosid.api.cosi.mounts.v1alpha1 import mounts_pb2
from cosid.resources import namespaces
from cosid.resources.typed import TypedApi
from cosid.state.registry import ResourceDefinition
from cosid.state.resource import Kind

MOUNT_SPEC_TYPE: Final = "MountSpecs.mounts.cosi.dev"
"""COSI type of the specs: a file system to mount at a target. The resource id is the target."""
MOUNT_STATUS_TYPE: Final = "MountStatuses.mounts.cosi.dev"
"""COSI type of the statuses: the mount table's entry at a target. The resource id is the
target."""
MOUNT_ORIGINAL_TYPE: Final = "MountOriginals.mounts.cosi.dev"
"""COSI type of the directories cosid created for a target (durable: deleting the spec removes
them, even after a restart). The resource id is the target; only targets cosid made
directories for have one."""

SPECS: Final = Kind(namespaces.MOUNTS.name, MOUNT_SPEC_TYPE)
STATUSES: Final = Kind(namespaces.RUNTIME.name, MOUNT_STATUS_TYPE)
ORIGINALS: Final = Kind(namespaces.MOUNTS.name, MOUNT_ORIGINAL_TYPE)

CONTROLLER: Final = "mounts"
"""The controller that makes the specs true (and writes statuses and originals)."""

MAX_PATH_BYTES: Final = 1024
"""The longest resource id, and so the longest target."""
MAX_COMPONENT_BYTES: Final = 255
MAX_VALUE_LENGTH: Final = 255
TMPFS: Final = "tmpfs"
OVERLAY: Final = "overlay"

_OVERLAY_SYNTAX: Final = frozenset(",:=\\")
_DATA_VALUE: Final = re.compile(r"[A-Za-z0-9_.:@+/-]*\Z")
_SIZE: Final = re.compile(r"(\d{1,20})([kmgt%]?)\Z")
_SIZE_SHIFTS: Final = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}
_MAX_SIZE_BYTES: Final = (1 << 63) - 1
_MODE: Final = re.compile(r"[0-7]{3,4}\Z")


@dataclass(frozen=True)
class Filesystem:
    """What cosid knows of a file system type: whether its source is a block device, and which
    ``data`` options it passes on (`values` take one, `flags` none)."""

    block_device: bool = False
    values: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()

    @property
    def data_keys(self) -> frozenset[str]:
        return self.values | self.flags


FILESYSTEMS: Final[dict[str, Filesystem]] = {
    "tmpfs": Filesystem(values=frozenset({"uid", "gid", "nr_inodes", "huge"})),
    "ramfs": Filesystem(),
    "proc": Filesystem(values=frozenset({"hidepid", "gid", "subset"})),
    "sysfs": Filesystem(),
    "cgroup2": Filesystem(flags=frozenset({"nsdelegate", "memory_recursiveprot"})),
    "mqueue": Filesystem(),
    "overlay": Filesystem(values=frozenset({"redirect_dir", "index", "metacopy", "xino"})),
    "ext4": Filesystem(
        block_device=True,
        values=frozenset({"errors", "data", "commit"}),
        flags=frozenset({"discard"}),
    ),
    "xfs": Filesystem(
        block_device=True, values=frozenset({"logbufs"}), flags=frozenset({"discard"})
    ),
    "btrfs": Filesystem(
        block_device=True,
        values=frozenset({"subvol", "subvolid", "compress"}),
        flags=frozenset({"discard"}),
    ),
    "vfat": Filesystem(
        block_device=True,
        values=frozenset({"uid", "gid", "umask", "dmask", "fmask", "shortname"}),
        flags=frozenset({"utf8"}),
    ),
}
"""The file system types the kernel driver mounts, with their ``data`` options."""


def parse_path(text: str) -> str:
    """An absolute, normalised node path as given; ValueError says what is wrong."""
    if not text:
        raise ValueError("must not be empty")
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (it has an unpaired surrogate)") from None
    if size > MAX_PATH_BYTES:
        raise ValueError(f"is {size} bytes long, the limit is {MAX_PATH_BYTES}")
    if not text.isprintable():
        raise ValueError("must not contain control characters or line breaks")
    if not text.startswith("/"):
        raise ValueError("must be an absolute path")
    if text == "/":
        return text
    if text.endswith("/"):
        raise ValueError("must not end with '/'")
    for component in text[1:].split("/"):
        if not component:
            raise ValueError("must not contain '//'")
        if component in (".", ".."):
            raise ValueError("must not have '.' or '..' components")
        if len(component.encode()) > MAX_COMPONENT_BYTES:
            raise ValueError(f"has a component longer than {MAX_COMPONENT_BYTES} bytes")
    return text


def parse_source(text: str) -> str:
    """A source as given: a path or a name; the rules that depend on the type come later."""
    if not text:
        raise ValueError("must not be empty (leave it out for the type's name)")
    if not text.isprintable():
        raise ValueError("must not contain control characters or line breaks")
    if len(text.encode(errors="surrogatepass")) > MAX_PATH_BYTES:
        raise ValueError(f"is longer than {MAX_PATH_BYTES} bytes")
    return text


def parse_fstype(text: str) -> str:
    if text not in FILESYSTEMS:
        raise ValueError(
            f"must be one of {', '.join(sorted(FILESYSTEMS))} "
            "(a bind mount leaves it out and sets options.bind)"
        )
    return text


def parse_overlay_dir(text: str) -> str:
    """An overlay layer: a node path that cannot break the option string it goes into."""
    path = parse_path(text)
    for char in path:
        if char in _OVERLAY_SYNTAX:
            raise ValueError(f"must not contain {char!r}: it is overlay's option syntax")
    return path


def _size_text(value: object) -> object:
    """YAML ``size: 1048576`` is a number: bytes (booleans are not sizes)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def parse_size(text: str) -> str:
    """A tmpfs size as bytes (``67108864``) or a percentage of RAM (``50%``)."""
    match = _SIZE.match(text.strip().lower())
    if match is None:
        raise ValueError("must be bytes, with a k, m, g or t suffix, or a percentage like 50%")
    number, suffix = int(match[1]), match[2]
    if suffix == "%":
        if not 1 <= number <= 100:
            raise ValueError("must be a percentage from 1% to 100%")
        return f"{number}%"
    size = number << _SIZE_SHIFTS[suffix]
    if size > _MAX_SIZE_BYTES:
        raise ValueError(f"must be at most {_MAX_SIZE_BYTES} bytes")
    return str(size)


def _mode_text(value: object) -> object:
    if isinstance(value, int):
        raise ValueError("must be a string of octal digits: quote it (YAML reads 0644 as 420)")
    return value


def parse_mode(text: str) -> str:
    """Permission bits as 4 octal digits (``0755``)."""
    if not _MODE.match(text):
        raise ValueError("must be 3 or 4 octal digits, like '0755' or '1777'")
    return f"{int(text, 8):04o}"


def parse_data_value(text: str) -> str:
    if len(text) > MAX_VALUE_LENGTH:
        raise ValueError(f"is longer than {MAX_VALUE_LENGTH} characters")
    if not _DATA_VALUE.match(text):
        raise ValueError(
            "must be letters, digits and _ . : @ + / - only "
            "(no ',', '=', whitespace or control characters)"
        )
    return text


MountPath = Annotated[str, AfterValidator(parse_path)]
"""An absolute, normalised node path (no '.', '..', '//', trailing '/' or control characters)."""

OverlayDir = Annotated[str, AfterValidator(parse_overlay_dir)]
TmpfsSize = Annotated[str, BeforeValidator(_size_text), AfterValidator(parse_size)]
Mode = Annotated[str, BeforeValidator(_mode_text), AfterValidator(parse_mode)]
DataValue = Annotated[str, AfterValidator(parse_data_value)]
Atime = Literal["relatime", "noatime", "strictatime"]


class MountOptions(BaseModel):
    """How to mount: the mount's flags, and the file system's own options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ro: StrictBool = False
    nosuid: StrictBool = False
    nodev: StrictBool = False
    noexec: StrictBool = False
    atime: Atime | None = None
    """relatime, noatime or strictatime; None keeps what the kernel chooses (relatime)."""
    bind: StrictBool = False
    """Bind `source` (a path) at the target instead of mounting a file system."""
    recursive: StrictBool = False
    """With bind: the mounts below `source` too (mount --rbind)."""
    size: TmpfsSize | None = None
    """tmpfs: bytes, or a percentage of RAM (``50%``); None is the kernel's default (50%)."""
    mode: Mode | None = None
    """tmpfs and ramfs: the root directory's permission bits, 4 octal digits."""
    lowerdir: list[OverlayDir] = []
    """overlay: the lower layers, top first."""
    upperdir: OverlayDir | None = None
    workdir: OverlayDir | None = None
    data: dict[str, DataValue] = {}
    """More of the file system's options (`FILESYSTEMS`); an empty value is a flag."""


class MountSpec(BaseModel):
    """A file system a client wants mounted at `target`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: MountPath
    source: Annotated[str, AfterValidator(parse_source)] | None = None
    """A path for a bind mount or a block device; else a name (None: the type's name)."""
    fstype: Annotated[str, AfterValidator(parse_fstype)] | None = None
    """None for a bind mount, which has its source's type."""
    options: MountOptions = MountOptions()
    mkdir: StrictBool = False
    """Create the target directory (and missing parents) if it is missing; deleting the spec
    removes what was created."""

    @model_validator(mode="after")
    def _fits_together(self) -> MountSpec:
        """Rules between fields, each reported at the field to change."""
        problems = [
            InitErrorDetails(
                type=PydanticCustomError("value_error", message), loc=location, input=value
            )
            for location, value, message in _combination_problems(self)
        ]
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    @property
    def id(self) -> str:
        """The resource id: the target."""
        return self.target

    @property
    def filesystem(self) -> Filesystem | None:
        """What cosid knows of the type; None for a bind mount."""
        return None if self.fstype is None else FILESYSTEMS[self.fstype]

    @property
    def name(self) -> str:
        """The source of a virtual file system or overlay: as given, else the type's name."""
        return self.source or self.fstype or ""


_Problem = tuple[tuple[str, ...], Any, str]


def _combination_problems(spec: MountSpec) -> Iterator[_Problem]:
    options = spec.options
    if options.bind:
        yield from _bind_problems(spec)
    elif spec.fstype is None:
        yield ("fstype",), None, "is required (or set options.bind for a bind mount)"
    else:
        yield from _filesystem_problems(spec, spec.fstype, FILESYSTEMS[spec.fstype])
    if options.recursive and not options.bind:
        yield ("options", "recursive"), True, "applies to bind mounts only"


def _bind_problems(spec: MountSpec) -> Iterator[_Problem]:
    if spec.fstype is not None:
        yield (
            ("fstype",),
            spec.fstype,
            "must be left out for a bind mount (it has its source's type)",
        )
    yield from _source_path_problems(spec.source, "the directory or file to bind")
    options = spec.options
    for name in ("size", "mode", "upperdir", "workdir"):
        if getattr(options, name) is not None:
            yield ("options", name), getattr(options, name), "does not apply to a bind mount"
    if options.lowerdir:
        yield ("options", "lowerdir"), options.lowerdir, "does not apply to a bind mount"
    if options.data:
        yield ("options", "data"), options.data, "does not apply to a bind mount"


def _filesystem_problems(
    spec: MountSpec, fstype: str, filesystem: Filesystem
) -> Iterator[_Problem]:
    options = spec.options
    if filesystem.block_device:
        yield from _source_path_problems(spec.source, f"the block device {fstype} is on")
    if options.size is not None and fstype != TMPFS:
        yield ("options", "size"), options.size, "applies to tmpfs only"
    if options.mode is not None and fstype not in (TMPFS, "ramfs"):
        yield ("options", "mode"), options.mode, "applies to tmpfs and ramfs only"
    if fstype == OVERLAY:
        yield from _overlay_problems(options)
    else:
        for name in ("lowerdir", "upperdir", "workdir"):
            if getattr(options, name):
                yield ("options", name), getattr(options, name), "applies to overlay only"
    for key, value in options.data.items():
        if key not in filesystem.data_keys:
            allowed = ", ".join(sorted(filesystem.data_keys)) or "none"
            yield (
                ("options", "data", key),
                value,
                f"is not an option cosid passes to {fstype} (allowed: {allowed})",
            )
        elif key in filesystem.flags and value:
            yield ("options", "data", key), value, "is a flag: its value must be empty"
        elif key in filesystem.values and not value:
            yield ("options", "data", key), value, "needs a value"


def _overlay_problems(options: MountOptions) -> Iterator[_Problem]:
    if not options.lowerdir:
        yield ("options", "lowerdir"), [], "is required for overlay: the lower layers"
    elif options.upperdir is None and len(options.lowerdir) < 2:
        yield (
            ("options", "lowerdir"),
            options.lowerdir,
            "needs two layers or more without an upperdir (a read-only overlay)",
        )
    if (options.upperdir is None) != (options.workdir is None):
        yield ("options", "workdir"), options.workdir, "goes with upperdir: give both or neither"


def _source_path_problems(source: str | None, what: str) -> Iterator[_Problem]:
    if source is None:
        yield ("source",), None, f"is required: {what}"
        return
    try:
        parse_path(source)
    except ValueError as error:
        yield ("source",), source, str(error)


class MountStatus(BaseModel):
    """The mount table's entry of the mount visible at the target (the topmost, when mounts
    are stacked there), whoever mounted it. Conditions (ready, reason, ...) come from the
    runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: MountPath
    mounted: StrictBool
    """Whether anything is mounted at the target."""
    matches: StrictBool = False
    """Whether that is the mount the spec asks for: its file system, source and options."""
    mount_id: NonNegativeInt | None = None
    """The kernel's id of the mount (unique while it exists; reused afterwards)."""
    parent_id: NonNegativeInt | None = None
    """The id of the mount it is mounted on."""
    source: str | None = None
    fstype: str | None = None
    root: str | None = None
    """The directory of its file system mounted there (``/`` unless a bind mount)."""
    mount_options: list[str] = []
    """The mount's own options (``rw``, ``nosuid``, ``relatime``...)."""
    super_options: list[str] = []
    """The file system's options (``size=65536k``...), with the node's real paths."""
    created_from: str | None = None
    """The highest directory cosid created for the target (down to the target), which
    deleting the spec removes; None when cosid created none."""

    @property
    def id(self) -> str:
        return self.target


class MountOriginal(BaseModel):
    """What the node lacked before cosid first mounted at a target: the directories cosid
    created for it, `created_from` and every one below it down to the target."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: MountPath
    created_from: MountPath

    @property
    def id(self) -> str:
        return self.target


DEFINITIONS: Final = (
    ResourceDefinition(
        SPECS.type, SPECS.namespace, aliases=("mount", "mounts"), spec_model=MountSpec
    ),
    ResourceDefinition(STATUSES.type, STATUSES.namespace, writable=False),
    ResourceDefinition(ORIGINALS.type, ORIGINALS.namespace, writable=False),
)

API: Final = TypedApi(
    service=mounts_pb2.DESCRIPTOR.services_by_name["MountService"],
    specs=SPECS,
    statuses=STATUSES,
    spec_model=MountSpec,
    status_model=MountStatus,
    controller=CONTROLLER,
)
"""The typed service cosi.mounts.v1alpha1.MountService over these types."""
