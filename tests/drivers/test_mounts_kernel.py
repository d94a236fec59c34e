"""The kernel mount driver against the real mount(2) and umount2(2) of a private mount namespace
(a worker thread's own: the host's table never changes), under a root prefix in a temporary
directory.

`findmnt`, run in the same namespace, witnesses every mount; the files seen through a mount
(from the worker, the only thread that sees it) witness what it holds.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cosid.drivers.mounts import (
    Fit,
    MountBusyError,
    MountDeniedError,
    MountDriver,
    MountError,
    MountInvalidError,
    MountSourceNotFoundError,
    MountSymlinkError,
    MountTargetNotFoundError,
    MountUnknownFilesystemError,
)
from cosid.drivers.mounts.kernel import KernelMountDriver
from cosid.drivers.mounts.mountinfo import MountEntry
from cosid.drivers.mounts.policy import TargetPolicy
from cosid.resources.mounts import MountSpec
from tests.drivers.mountns import MountNamespace, guarded_mountns


def as_driver(driver: KernelMountDriver) -> MountDriver:
    """Never called: mypy checks here that the kernel driver implements the Protocol."""
    return driver


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "mnt").mkdir()
    return tmp_path


@pytest.fixture
def mountns(root: Path) -> Iterator[MountNamespace]:
    with guarded_mountns(root) as namespace:
        yield namespace


@pytest.fixture
def driver(root: Path) -> KernelMountDriver:
    return KernelMountDriver(root, TargetPolicy(deny=["/"], deny_below=["/proc"]))


def mount_spec(target: str = "/mnt/data", **fields: Any) -> MountSpec:
    return MountSpec.model_validate({"target": target, **fields})


def tmpfs(target: str = "/mnt/data", **options: Any) -> MountSpec:
    return mount_spec(target, fstype="tmpfs", options=options)


def mounted(mountns: MountNamespace, driver: KernelMountDriver, spec: MountSpec) -> MountSpec:
    """`spec` mounted at its (new) target."""
    Path(driver.real_path(spec.target)).mkdir(parents=True, exist_ok=True)
    mountns.run(driver.mount(spec))
    return spec


def find(mountns: MountNamespace, driver: KernelMountDriver, target: str) -> MountEntry | None:
    return mountns.run(driver.find(target))


def fit(mountns: MountNamespace, driver: KernelMountDriver, spec: MountSpec) -> Fit:
    async def fit_now() -> Fit:
        return await driver.fit(spec, await driver.find(spec.target))

    return mountns.run(fit_now())


def witness(mountns: MountNamespace, driver: KernelMountDriver, target: str) -> dict[str, Any]:
    """The topmost mount at `target` as findmnt shows it."""
    mounts = mountns.findmnt(driver.real_path(target))
    assert mounts, f"nothing mounted at {target}"
    return mounts[-1]


def options_of(mount: dict[str, Any]) -> set[str]:
    return set(mount["options"].split(","))


# --- tmpfs ---------------------------------------------------------------------------------------


def test_tmpfs_with_size_mode_and_flags(mountns: MountNamespace, driver: KernelMountDriver) -> None:
    spec = mounted(mountns, driver, tmpfs(size="1m", mode="0750", nosuid=True, nodev=True))

    shown = witness(mountns, driver, spec.target)
    assert (shown["fstype"], shown["source"]) == ("tmpfs", "tmpfs")
    assert {"rw", "nosuid", "nodev", "size=1024k", "mode=750"} <= options_of(shown)
    assert "noexec" not in options_of(shown)
    mode = mountns.call(lambda: os.stat(driver.real_path(spec.target)).st_mode)
    assert stat.S_IMODE(mode) == 0o750
    entry = find(mountns, driver, spec.target)
    assert entry is not None
    assert entry.mount_id == int(shown["id"])
    assert fit(mountns, driver, spec) == Fit.SAME
    assert not os.listdir(driver.real_path(spec.target)), "the host sees no mount there"


def test_a_source_name_and_data_options(mountns: MountNamespace, driver: KernelMountDriver) -> None:
    spec = mounted(
        mountns,
        driver,
        mount_spec(source="scratch", fstype="tmpfs", options={"data": {"nr_inodes": "100"}}),
    )
    shown = witness(mountns, driver, spec.target)
    assert shown["source"] == "scratch"
    assert "nr_inodes=100" in options_of(shown)
    assert fit(mountns, driver, spec) == Fit.SAME
    assert fit(mountns, driver, spec.model_copy(update={"source": "other"})) == Fit.OTHER


def test_flags_size_and_mode_change_in_place(
    mountns: MountNamespace, driver: KernelMountDriver
) -> None:
    spec = mounted(mountns, driver, tmpfs(size="1m", mode="0700"))
    before = witness(mountns, driver, spec.target)["id"]
    mountns.call(lambda: Path(driver.real_path(spec.target), "kept").write_text("data"))

    for changed in (
        tmpfs(size="2m", mode="0700", ro=True, noexec=True),  # a remount
        tmpfs(size="2m", mode="0755", atime="noatime"),  # a remount read-write, then chmod
        tmpfs(size="2m", mode="0750", ro=True),  # chmod, then a remount read-only
        tmpfs(size="2m", mode="0755", atime="relatime"),
    ):
        assert fit(mountns, driver, changed) == Fit.ADJUSTABLE
        mountns.run(driver.reconfigure(changed))
        assert fit(mountns, driver, changed) == Fit.SAME

    shown = witness(mountns, driver, spec.target)
    assert shown["id"] == before, "the same mount, changed in place"
    assert {"rw", "relatime", "size=2048k"} <= options_of(shown)
    assert not {"ro", "noexec", "noatime"} & options_of(shown)
    kept = mountns.call(lambda: Path(driver.real_path(spec.target), "kept").read_text())
    assert kept == "data"
    mode = mountns.call(lambda: os.stat(driver.real_path(spec.target)).st_mode)
    assert stat.S_IMODE(mode) == 0o755


def test_read_only_tmpfs_is_read_only(mountns: MountNamespace, driver: KernelMountDriver) -> None:
    spec = mounted(mountns, driver, tmpfs(ro=True))
    with pytest.raises(OSError, match="Read-only file system") as raised:
        mountns.call(lambda: Path(driver.real_path(spec.target), "x").write_text("no"))
    assert raised.value.errno == errno.EROFS


# --- bind mounts ---------------------------------------------------------------------------------


def test_a_read_only_bind_mount(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    (root / "srv" / "data").mkdir(parents=True)
    (root / "srv" / "data" / "file").write_text("shared\n")
    spec = mounted(
        mountns, driver, mount_spec(source="/srv/data", options={"bind": True, "ro": True})
    )

    target = Path(driver.real_path(spec.target))
    assert mountns.call(lambda: (target / "file").read_text()) == "shared\n"
    with pytest.raises(OSError, match="Read-only file system") as raised:
        mountns.call(lambda: (target / "file").write_text("changed"))
    assert raised.value.errno == errno.EROFS
    (root / "srv" / "data" / "file").write_text("the source stays writable\n")
    assert "ro" in options_of(witness(mountns, driver, spec.target))
    assert fit(mountns, driver, spec) == Fit.SAME
    writable = mount_spec(source="/srv/data", options={"bind": True})
    assert fit(mountns, driver, writable) == Fit.ADJUSTABLE
    mountns.run(driver.reconfigure(writable))
    mountns.call(lambda: (target / "file").write_text("now writable\n"))
    other = mount_spec(source="/srv", options={"bind": True})
    assert fit(mountns, driver, other) == Fit.OTHER


def test_a_recursive_bind_takes_the_mounts_below(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    (root / "srv" / "sub").mkdir(parents=True)
    mountns.exec("mount", "-t", "tmpfs", "below", str(root / "srv" / "sub"))
    plain = mounted(
        mountns, driver, mount_spec("/mnt/plain", source="/srv", options={"bind": True})
    )
    recursive = mounted(
        mountns,
        driver,
        mount_spec("/mnt/all", source="/srv", options={"bind": True, "recursive": True}),
    )
    assert mountns.findmnt(driver.real_path(f"{plain.target}/sub")) == []
    [sub] = mountns.findmnt(driver.real_path(f"{recursive.target}/sub"))
    assert sub["source"] == "below"


# --- overlay -------------------------------------------------------------------------------------


@pytest.fixture
def layers(root: Path) -> Path:
    for name in ("lower1", "lower2", "upper", "work"):
        (root / "layers" / name).mkdir(parents=True)
    (root / "layers" / "lower1" / "top").write_text("lower1\n")
    (root / "layers" / "lower2" / "top").write_text("hidden by lower1\n")
    (root / "layers" / "lower2" / "bottom").write_text("lower2\n")
    return root / "layers"


def test_overlay_merges_the_layers_and_writes_to_upper(
    mountns: MountNamespace, driver: KernelMountDriver, layers: Path
) -> None:
    spec = mounted(
        mountns,
        driver,
        mount_spec(
            fstype="overlay",
            options={
                "lowerdir": ["/layers/lower1", "/layers/lower2"],
                "upperdir": "/layers/upper",
                "workdir": "/layers/work",
            },
        ),
    )

    merged = Path(driver.real_path(spec.target))
    assert mountns.call(lambda: sorted(os.listdir(merged))) == ["bottom", "top"]
    assert mountns.call(lambda: (merged / "top").read_text()) == "lower1\n"
    mountns.call(lambda: (merged / "new").write_text("written\n"))
    assert (layers / "upper" / "new").read_text() == "written\n"
    assert not (layers / "lower1" / "new").exists()
    shown = witness(mountns, driver, spec.target)
    assert shown["fstype"] == "overlay"
    assert f"lowerdir={layers}/lower1:{layers}/lower2" in options_of(shown)
    assert fit(mountns, driver, spec) == Fit.SAME
    swapped = mount_spec(
        fstype="overlay", options={"lowerdir": ["/layers/lower2", "/layers/lower1"]}
    )
    assert fit(mountns, driver, swapped) == Fit.OTHER


def test_a_read_only_overlay(
    mountns: MountNamespace, driver: KernelMountDriver, layers: Path
) -> None:
    spec = mounted(
        mountns,
        driver,
        mount_spec(fstype="overlay", options={"lowerdir": ["/layers/lower1", "/layers/lower2"]}),
    )
    assert fit(mountns, driver, spec) == Fit.SAME
    with pytest.raises(OSError, match="Read-only file system") as raised:
        mountns.call(lambda: Path(driver.real_path(spec.target), "new").write_text("x"))
    assert raised.value.errno == errno.EROFS


# --- unmounting ----------------------------------------------------------------------------------


def test_unmount(mountns: MountNamespace, driver: KernelMountDriver) -> None:
    spec = mounted(mountns, driver, tmpfs())
    mountns.run(driver.unmount(spec.target, detach_busy=False))
    assert mountns.findmnt(driver.real_path(spec.target)) == []
    assert find(mountns, driver, spec.target) is None
    mountns.run(driver.unmount(spec.target, detach_busy=False))  # nothing left: nothing to do
    mountns.run(driver.unmount("/mnt/never-made", detach_busy=False))


def test_unmount_takes_the_topmost_of_stacked_mounts(
    mountns: MountNamespace, driver: KernelMountDriver
) -> None:
    spec = mounted(mountns, driver, tmpfs())
    mountns.exec("mount", "-t", "tmpfs", "foreign", driver.real_path(spec.target))
    top = find(mountns, driver, spec.target)
    assert top is not None
    assert top.source == "foreign"
    assert fit(mountns, driver, spec) == Fit.OTHER

    mountns.run(driver.unmount(spec.target, detach_busy=False))

    [left] = mountns.findmnt(driver.real_path(spec.target))
    assert left["source"] == "tmpfs"
    assert fit(mountns, driver, spec) == Fit.SAME


def test_a_busy_mount_is_refused_unless_detached(
    mountns: MountNamespace, driver: KernelMountDriver
) -> None:
    spec = mounted(mountns, driver, tmpfs())
    target = driver.real_path(spec.target)
    mountns.call(lambda: Path(target, "file").write_text("in use\n"))
    held = mountns.call(lambda: os.open(f"{target}/file", os.O_RDONLY))
    try:
        with pytest.raises(MountBusyError) as raised:
            mountns.run(driver.unmount(spec.target, detach_busy=False))
        assert (raised.value.reason, raised.value.errno) == ("TargetBusy", errno.EBUSY)
        assert len(mountns.findmnt(target)) == 1

        mountns.run(driver.unmount(spec.target, detach_busy=True))

        assert mountns.findmnt(target) == []
        assert os.pread(held, 100, 0) == b"in use\n", "the holder keeps its detached files"
    finally:
        os.close(held)


# --- directories ---------------------------------------------------------------------------------


def test_directories_made_and_removed(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    target = "/mnt/a/b/c"
    assert mountns.run(driver.missing(target)) == "/mnt/a"
    previous = os.umask(0o077)
    try:
        mountns.run(driver.make_directories(target))
    finally:
        os.umask(previous)
    assert mountns.run(driver.missing(target)) is None
    for made in ("mnt/a", "mnt/a/b", "mnt/a/b/c"):
        assert stat.S_IMODE((root / made).stat().st_mode) == 0o755
    (root / "mnt" / "a" / "keep").write_text("someone else's\n")

    mountns.run(driver.remove_directories(target, "/mnt/a"))

    assert not (root / "mnt" / "a" / "b").exists()
    assert (root / "mnt" / "a" / "keep").exists(), "a directory that is not empty stays"
    mountns.run(driver.remove_directories(target, "/mnt/a"))  # gone already: nothing to do
    mountns.run(driver.remove_directories(target, "/srv"))  # not on the way: not touched
    assert (root / "mnt").exists()


def test_a_mount_point_is_not_removed(mountns: MountNamespace, driver: KernelMountDriver) -> None:
    spec = mounted(mountns, driver, tmpfs("/mnt/new/data"))
    mountns.run(driver.remove_directories(spec.target, "/mnt/new"))
    assert Path(driver.real_path(spec.target)).is_dir()


# --- errors --------------------------------------------------------------------------------------


def test_a_type_the_kernel_lacks(mountns: MountNamespace, driver: KernelMountDriver) -> None:
    with open("/proc/filesystems") as known:
        if any(line.split()[-1] == "vfat" for line in known):
            pytest.skip("this kernel has vfat")
    spec = mount_spec(fstype="vfat", source="/dev/fake")
    device = Path(driver.real_path("/dev/fake"))
    device.parent.mkdir()
    os.mknod(device, 0o600 | stat.S_IFBLK, os.makedev(7, 250))
    Path(driver.real_path(spec.target)).mkdir()
    with pytest.raises(MountUnknownFilesystemError) as raised:
        mountns.run(driver.mount(spec))
    assert (raised.value.reason, raised.value.errno) == ("UnknownFilesystem", errno.ENODEV)
    assert mountns.findmnt(driver.real_path(spec.target)) == []


@pytest.mark.parametrize(
    ("spec", "error", "reason", "message"),
    [
        (
            tmpfs("/mnt/missing"),
            MountTargetNotFoundError,
            "TargetNotFound",
            "/mnt/missing does not exist",
        ),
        (
            mount_spec(source="/srv/missing", options={"bind": True}),
            MountSourceNotFoundError,
            "SourceNotFound",
            "/srv/missing does not exist",
        ),
        (
            mount_spec(fstype="overlay", options={"lowerdir": ["/l1", "/l2"]}),
            MountSourceNotFoundError,
            "SourceNotFound",
            "/l1 does not exist",
        ),
        (
            mount_spec(fstype="ext4", source="/dev/missing"),
            MountSourceNotFoundError,
            "SourceNotFound",
            "source /dev/missing",
        ),
        (
            mount_spec(fstype="ext4", source="/mnt"),
            MountInvalidError,
            "InvalidOptions",
            "source /mnt is not a block device",
        ),
        (
            tmpfs(data={"huge": "bogus"}),
            MountInvalidError,
            "InvalidOptions",
            "the kernel refused the source or options",
        ),
    ],
)
def test_refusals_name_their_reason(
    mountns: MountNamespace,
    driver: KernelMountDriver,
    spec: MountSpec,
    error: type[MountError],
    reason: str,
    message: str,
) -> None:
    if spec.target != "/mnt/missing":
        Path(driver.real_path(spec.target)).mkdir()
    with pytest.raises(error) as raised:
        mountns.run(driver.mount(spec))
    assert raised.value.reason == reason
    assert raised.value.target == spec.target
    assert message in str(raised.value)
    assert find(mountns, driver, spec.target) is None


def test_symlinks_are_not_followed(
    mountns: MountNamespace,
    driver: KernelMountDriver,
    root: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (root / "mnt" / "link").symlink_to(elsewhere)
    (root / "srv").mkdir()
    (root / "srv" / "link").symlink_to(elsewhere)
    Path(driver.real_path("/mnt/data")).mkdir()

    for spec in (
        tmpfs("/mnt/link"),
        tmpfs("/mnt/link/below"),
        mount_spec(source="/srv/link", options={"bind": True}),
    ):
        with pytest.raises(MountSymlinkError) as raised:
            mountns.run(driver.mount(spec))
        assert raised.value.reason == "Symlink"
    with pytest.raises(MountSymlinkError):
        mountns.run(driver.make_directories("/mnt/link/new"))
    assert mountns.findmnt(elsewhere) == []
    assert os.listdir(elsewhere) == []


def test_a_device_link_may_not_lead_out_of_the_root(
    mountns: MountNamespace, driver: KernelMountDriver, root: Path
) -> None:
    (root / "dev").mkdir()
    (root / "dev" / "outside").symlink_to("/dev/null")
    Path(driver.real_path("/mnt/data")).mkdir()
    with pytest.raises(MountSymlinkError, match="leads out of the root"):
        mountns.run(driver.mount(mount_spec(fstype="ext4", source="/dev/outside")))


def test_denied_targets_are_never_touched(
    mountns: MountNamespace, driver: KernelMountDriver
) -> None:
    for call in (
        driver.mount(tmpfs("/proc/x")),
        driver.make_directories("/proc/x"),
        driver.unmount("/", detach_busy=True),
        driver.remove_directories("/proc/x", "/proc"),
    ):
        with pytest.raises(MountDeniedError) as raised:
            mountns.run(call)
        assert raised.value.reason == "DeniedTarget"


def test_a_mount_hidden_under_another_is_not_the_targets(
    mountns: MountNamespace, driver: KernelMountDriver
) -> None:
    """A mount on a directory above the target hides the target's own: the path now leads
    into the upper mount, so nothing is mounted at the target as the node sees it."""
    spec = mounted(mountns, driver, tmpfs("/mnt/outer/inner"))
    assert fit(mountns, driver, spec) == Fit.SAME
    mountns.exec("mount", "-t", "tmpfs", "cover", driver.real_path("/mnt/outer"))

    assert find(mountns, driver, spec.target) is None
    assert len(mountns.findmnt(driver.real_path(spec.target))) == 1, "still in the table"
    mountns.call(lambda: Path(driver.real_path(spec.target)).mkdir())
    assert find(mountns, driver, spec.target) is None, "a directory, not a mount point"
    mountns.run(driver.mount(spec))
    assert fit(mountns, driver, spec) == Fit.SAME
