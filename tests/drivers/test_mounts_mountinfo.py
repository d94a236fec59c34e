"""The mountinfo parser: on lines as the kernel writes them (escapes included), and on the real
table of a private mount namespace, checked against findmnt's reading of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cosid.drivers.mounts import mountinfo
from cosid.drivers.mounts.mountinfo import MountEntry, parse, parse_line, unescape
from tests.drivers.mountns import MountNamespace, guarded_mountns

TEXT = b"\n".join(
    (
        rb"22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard,errors=remount-ro",
        rb"65 22 0:39 / /mnt/a\040b rw,nosuid,relatime shared:40 master:2 - tmpfs tmp\040fs "
        rb"rw,size=1024k,mode=700",
        rb"66 22 0:39 /sub\134dir /mnt/tab\011and\012newline ro,relatime - tmpfs tmpfs "
        rb"rw,size=1024k",
        rb"70 22 0:40 / /merged rw,relatime - overlay overlay rw,lowerdir=/l\054x:/l2,upperdir=/u,"
        rb"workdir=/w",
        b"",
    )
)


def test_fields_and_escapes() -> None:
    root, spaced, escaped, overlay = parse(TEXT)
    assert root == MountEntry(
        mount_id=22,
        parent_id=1,
        device="252:1",
        root="/",
        mount_point="/",
        mount_options=("rw", "relatime"),
        propagation=("shared:1",),
        fstype="ext4",
        source="/dev/vda",
        super_options=("rw", "discard", "errors=remount-ro"),
    )
    assert spaced.mount_point == "/mnt/a b"
    assert spaced.source == "tmp fs"
    assert spaced.propagation == ("shared:40", "master:2")
    assert escaped.mount_point == "/mnt/tab\tand\nnewline"
    assert escaped.root == "/sub\\dir"
    assert escaped.propagation == ()
    assert overlay.super_option("lowerdir") == "/l,x:/l2", "an escaped comma splits nothing"
    assert overlay.super_option("rw") == ""
    assert overlay.super_option("index") is None


@pytest.mark.parametrize(
    ("field", "text"),
    [
        (rb"plain", "plain"),
        (rb"a\040b\011c\012d\134e", "a b\tc\nd\\e"),
        (rb"\134040", "\\040"),  # an escaped backslash before digits stays a backslash
        (rb"\400", "\\400"),  # not a byte: left as it is
        (b"caf\\303\\251", "café"),
        (b"\\377", "\ufffd"),  # not UTF-8
    ],
)
def test_unescape(field: bytes, text: str) -> None:
    assert unescape(field) == text


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"22 1 252:1 / / rw shared:1 ext4 /dev/vda rw",
        b"22 1 252:1 / / rw - ext4 /dev/vda",
        b"x 1 252:1 / / rw - ext4 /dev/vda rw",
    ],
)
def test_malformed_lines_are_refused(line: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # the message quotes the line
        parse_line(line)


# --- the real table ----------------------------------------------------------------------------


@pytest.fixture
def mountns(tmp_path: Path) -> Iterator[MountNamespace]:
    with guarded_mountns(tmp_path) as namespace:
        yield namespace


def test_the_real_table_reads_as_findmnt_reads_it(tmp_path: Path, mountns: MountNamespace) -> None:
    awkward = tmp_path / "a b\tc\\d,e"
    awkward.mkdir()
    mountns.exec("mount", "-t", "tmpfs", "-o", "size=1m,mode=0750", "odd source", str(awkward))
    mountns.exec("mount", "-t", "tmpfs", "second", str(awkward))

    entries = mountns.call(mountinfo.read)

    seen = {(entry.mount_id, entry.mount_point, entry.fstype) for entry in entries}
    witnessed = {
        (int(mount["id"]), mount["target"], mount["fstype"]) for mount in mountns.findmnt(awkward)
    }
    assert witnessed <= seen
    first, second = (entry for entry in entries if entry.mount_point == str(awkward))
    assert (first.source, second.source) == ("odd source", "second")
    assert first.super_option("size") == "1024k"
    assert first.super_option("mode") == "750"
    assert second.parent_id == first.mount_id
