"""A spec's options in the kernel's words (mount(2) flags and option string) and the comparison
with what mountinfo shows, on their own: the driver tests show the kernel agreeing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cosid.drivers.mounts.mountinfo import MountEntry
from cosid.drivers.mounts.options import (
    MS_NOATIME,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_RELATIME,
    MS_STRICTATIME,
    OverlayDirs,
    flags_match,
    mount_data,
    mount_flags,
    remount_data,
    size_pages,
    tmpfs_pages,
)
from cosid.resources.mounts import FILESYSTEMS, MountOptions, MountSpec

PAGE = 4096
RAM_PAGES = 6_171_023


def spec(fstype: str = "tmpfs", **options: Any) -> MountSpec:
    source = {"source": "/dev/vdb"} if FILESYSTEMS[fstype].block_device else {}
    return MountSpec.model_validate(
        {"target": "/mnt", "fstype": fstype, "options": options, **source}
    )


def entry(mount_options: str = "rw,relatime", super_options: str = "rw") -> MountEntry:
    return MountEntry(
        mount_id=70,
        parent_id=1,
        device="0:42",
        root="/",
        mount_point="/mnt",
        mount_options=tuple(mount_options.split(",")),
        propagation=(),
        fstype="tmpfs",
        source="tmpfs",
        super_options=tuple(super_options.split(",")),
    )


@pytest.mark.parametrize(
    ("options", "flags"),
    [
        ({}, 0),
        ({"ro": True}, MS_RDONLY),
        ({"nosuid": True, "nodev": True, "noexec": True}, MS_NOSUID | MS_NODEV | MS_NOEXEC),
        ({"atime": "noatime"}, MS_NOATIME),
        ({"atime": "relatime", "ro": True}, MS_RELATIME | MS_RDONLY),
        ({"atime": "strictatime"}, MS_STRICTATIME),
    ],
)
def test_flags(options: dict[str, Any], flags: int) -> None:
    assert mount_flags(MountOptions.model_validate(options)) == flags


def test_the_option_string() -> None:
    assert mount_data(spec()) == ""
    made = spec(size="64m", mode="1777", data={"uid": "1000", "gid": "100"})
    assert mount_data(made) == "size=67108864,mode=1777,gid=100,uid=1000"
    ext4 = spec("ext4", data={"errors": "remount-ro", "discard": ""})
    assert mount_data(ext4) == "discard,errors=remount-ro"
    overlay = spec("overlay", lowerdir=["/a", "/b"], upperdir="/u", workdir="/w")
    dirs = OverlayDirs(lower=("/root/a", "/root/b"), upper="/root/u", work="/root/w")
    assert mount_data(overlay, dirs) == (
        "lowerdir=/root/a:/root/b,upperdir=/root/u,workdir=/root/w"
    )


@given(
    data=st.dictionaries(
        st.sampled_from(sorted(FILESYSTEMS["tmpfs"].values)), st.text(min_size=1), max_size=4
    )
)
def test_the_kernel_reads_back_exactly_the_options_given(data: dict[str, str]) -> None:
    """Split as the kernel splits (commas, then the first '='), an accepted spec's option
    string gives exactly its options: nothing can be injected."""
    try:
        made = spec(data=data, size="1m")
    except ValidationError:
        return
    parsed = dict(option.partition("=")[::2] for option in mount_data(made).split(","))
    assert parsed == {"size": "1048576", **data}


def test_a_remount_changes_only_a_tmpfs_size() -> None:
    assert remount_data(spec(size="50%", mode="0700", data={"uid": "1"})) == "size=50%"
    assert remount_data(spec(mode="0700")) is None
    assert remount_data(spec("ext4", data={"discard": ""})) is None


@pytest.mark.parametrize(
    ("options", "shown", "match"),
    [
        ({}, "rw,relatime", True),
        ({}, "ro,relatime", False),
        ({"ro": True}, "ro,relatime", True),
        ({}, "rw,nosuid,relatime", False),
        ({"nosuid": True, "nodev": True, "noexec": True}, "rw,nosuid,nodev,noexec", True),
        ({"nosuid": True}, "rw,nosuid,nodev", False),
        ({}, "rw,noatime", True),  # no atime in the spec: the kernel's choice stands
        ({"atime": "noatime"}, "rw,noatime", True),
        ({"atime": "noatime"}, "rw,relatime", False),
        ({"atime": "relatime"}, "rw,relatime", True),
        ({"atime": "strictatime"}, "rw", True),
        ({"atime": "strictatime"}, "rw,relatime", False),
    ],
)
def test_flags_match(options: dict[str, Any], shown: str, match: bool) -> None:
    assert flags_match(MountOptions.model_validate(options), entry(shown)) is match


@pytest.mark.parametrize(
    ("size", "pages"),
    [
        ("0", 0),
        ("1", 1),
        ("4096", 1),
        ("4097", 2),
        ("1048576", 256),
        ("50%", 3_085_512),  # rounded up, as the kernel does: one page more than half
        ("100%", RAM_PAGES),
    ],
)
def test_size_pages(size: str, pages: int) -> None:
    assert size_pages(size, PAGE, RAM_PAGES) == pages


def test_tmpfs_pages_as_mountinfo_shows_them() -> None:
    assert tmpfs_pages(entry(super_options="rw,size=1024k,mode=700"), PAGE, RAM_PAGES) == 256
    assert tmpfs_pages(entry(super_options="rw,size=12342048k"), PAGE, RAM_PAGES) == 3_085_512
    assert tmpfs_pages(entry(super_options="rw"), PAGE, RAM_PAGES) == RAM_PAGES // 2, "default"


def test_overlay_dirs_against_what_mountinfo_shows() -> None:
    dirs = OverlayDirs(lower=("/a", "/b"), upper="/u", work="/w")
    shown = entry(super_options="rw,lowerdir=/a:/b,upperdir=/u,workdir=/w,uuid=on")
    assert dirs.shown_by(shown)
    assert not OverlayDirs(lower=("/b", "/a"), upper="/u", work="/w").shown_by(shown)
    assert not OverlayDirs(lower=("/a", "/b")).shown_by(shown)
    assert OverlayDirs(lower=("/a", "/b")).shown_by(entry(super_options="rw,lowerdir=/a:/b"))
