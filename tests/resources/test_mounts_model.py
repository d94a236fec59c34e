"""The mount models: which targets, sources, types and options pass, their canonical form, and
the field violations a client gets for the ones that do not."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from cosid.resources.mounts import (
    FILESYSTEMS,
    MAX_PATH_BYTES,
    MOUNT_ORIGINAL_TYPE,
    MOUNT_SPEC_TYPE,
    MOUNT_STATUS_TYPE,
    MountOriginal,
    MountSpec,
    MountStatus,
    parse_path,
)
from cosid.resources.validation import field_violations


def spec(**fields: Any) -> MountSpec:
    return MountSpec.model_validate({"target": "/mnt/data", "fstype": "tmpfs", **fields})


def tmpfs(**options: Any) -> MountSpec:
    return spec(options=options)


def refused(**fields: Any) -> list[str]:
    """The violations a client gets for these fields (over a tmpfs at /mnt/data)."""
    with pytest.raises(ValidationError) as raised:
        spec(**fields)
    return [f"{v.field}: {v.description}" for v in field_violations(raised.value, "spec")]


# --- targets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/mnt/data",
        "/",
        "/srv/my data",  # spaces are fine (mountinfo escapes them)
        "/srv/a\\b",
        "/srv/ünïcödé",
        "/srv/..hidden/x.",
        "/" + "a" * 255,
        "/" + "/".join(["b" * 200] * 5),  # 1005 bytes
    ],
)
def test_accepted_targets(target: str) -> None:
    made = spec(target=target)
    assert made.target == made.id == target


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("", "must not be empty"),
        ("mnt/data", "must be an absolute path"),
        ("./mnt", "must be an absolute path"),
        ("/mnt/data/", "must not end with '/'"),
        ("/mnt//data", "must not contain '//'"),
        ("//mnt", "must not contain '//'"),
        ("/mnt/../etc", "'.' or '..' components"),
        ("/mnt/./data", "'.' or '..' components"),
        ("/..", "'.' or '..' components"),
        ("/mnt/da\x00ta", "control characters"),
        ("/mnt/data\n/etc", "line breaks"),
        ("/mnt/\tdata", "control characters"),
        ("/mnt/\x1b[31m", "control characters"),
        ("/mnt/\ud800", "valid Unicode"),
        ("/" + "a" * 256, "component longer than 255 bytes"),
        ("/" + "/".join(["b" * 200] * 6), f"the limit is {MAX_PATH_BYTES}"),
    ],
)
def test_rejected_targets(target: str, message: str) -> None:
    [violation] = refused(target=target)
    assert violation.startswith("spec.target: ")
    assert message in violation
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_path(target)


_PIECES = st.sampled_from(["/", "mnt", "..", ".", "//", " ", "\x00", "\n", "a b", "é"])


@given(text=st.one_of(st.text(), st.lists(_PIECES).map("".join)))
@example(text="/mnt/../../etc")
@example(text="/mnt/./x")
@example(text="/mnt/x/")
def test_a_valid_target_stays_under_any_root_prefix(text: str) -> None:
    """Whatever the text, a target that passes is its own normal form, so under a root prefix
    it names a path inside that prefix (drivers then refuse symlinks on the way)."""
    try:
        target = parse_path(text)
    except ValueError:
        return
    assert os.path.normpath(target) == target
    assert not target.startswith("//")
    joined = f"/root/prefix{target}" if target != "/" else "/root/prefix"
    assert os.path.normpath(joined) == joined
    assert joined.startswith("/root/prefix")
    assert text.isprintable()


# --- file systems and sources ------------------------------------------------------------------


def test_the_type_names_the_filesystems_the_driver_knows() -> None:
    assert {"tmpfs", "overlay", "ext4", "xfs", "btrfs", "vfat", "proc", "sysfs"} <= set(FILESYSTEMS)
    [violation] = refused(fstype="nfs")
    assert violation.startswith("spec.fstype: must be one of btrfs, cgroup2, ext4")
    assert "a bind mount leaves it out" in violation


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"fstype": "tmpfs"}, "tmpfs"),
        ({"fstype": "tmpfs", "source": "scratch"}, "scratch"),
        ({"fstype": "proc"}, "proc"),
        ({"fstype": "overlay", "options": {"lowerdir": ["/a", "/b"]}}, "overlay"),
    ],
)
def test_a_virtual_filesystems_source_is_a_name_defaulting_to_its_type(
    fields: dict[str, Any], name: str
) -> None:
    assert spec(**fields).name == name


def test_a_block_filesystem_needs_a_device_path() -> None:
    assert spec(fstype="ext4", source="/dev/vdb1").source == "/dev/vdb1"
    assert refused(fstype="ext4") == ["spec.source: is required: the block device ext4 is on"]
    assert refused(fstype="xfs", source="vdb1") == ["spec.source: must be an absolute path"]
    assert refused(fstype="btrfs", source="/dev/../sda") == [
        "spec.source: must not have '.' or '..' components"
    ]


def test_a_bind_mount_has_a_source_path_and_no_type() -> None:
    bind = MountSpec.model_validate(
        {"target": "/mnt/data", "source": "/srv/data", "options": {"bind": True, "ro": True}}
    )
    assert (bind.fstype, bind.filesystem, bind.source) == (None, None, "/srv/data")
    assert refused(source="/srv/data", options={"bind": True}) == [
        "spec.fstype: must be left out for a bind mount (it has its source's type)"
    ]
    assert refused(fstype=None, options={"bind": True}) == [
        "spec.source: is required: the directory or file to bind"
    ]
    assert refused(fstype=None, source="srv", options={"bind": True}) == [
        "spec.source: must be an absolute path"
    ]
    assert refused(fstype=None) == [
        "spec.fstype: is required (or set options.bind for a bind mount)"
    ]


@pytest.mark.parametrize("source", ["", "a\x00b", "a\nb"])
def test_sources_are_text_without_control_characters(source: str) -> None:
    [violation] = refused(source=source)
    assert violation.startswith("spec.source: must not")


# --- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "size"),
    [
        ("1048576", "1048576"),
        (1048576, "1048576"),  # YAML "size: 1048576"
        ("64k", "65536"),
        ("64M", "67108864"),
        ("2g", "2147483648"),
        ("1t", "1099511627776"),
        ("0", "0"),  # no limit
        ("50%", "50%"),
        ("007%", "7%"),
        ("100%", "100%"),
    ],
)
def test_tmpfs_sizes_are_normalised_to_bytes_or_a_percentage(given: object, size: str) -> None:
    assert tmpfs(size=given).options.size == size


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("64 MB", "must be bytes, with a k, m, g or t suffix"),
        ("1.5g", "must be bytes"),
        ("-1", "must be bytes"),
        ("0x100", "must be bytes"),
        ("64m,nr_inodes=1", "must be bytes"),
        ("64m\nmode=777", "must be bytes"),
        ("0%", "from 1% to 100%"),
        ("101%", "from 1% to 100%"),
        ("99999999999999999999t", "at most"),
        (True, "must be a string"),
    ],
)
def test_rejected_sizes(given: object, message: str) -> None:
    [violation] = refused(options={"size": given})
    assert violation.startswith("spec.options.size: ")
    assert message in violation


@pytest.mark.parametrize(("given", "mode"), [("755", "0755"), ("0700", "0700"), ("1777", "1777")])
def test_modes_are_octal_strings(given: str, mode: str) -> None:
    assert tmpfs(mode=given).options.mode == mode


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (420, "quote it"),  # YAML reads 0644 as 420
        (755, "quote it"),
        ("0o755", "3 or 4 octal digits"),
        ("0788", "3 or 4 octal digits"),
        ("17777", "3 or 4 octal digits"),
        ("rwx", "3 or 4 octal digits"),
    ],
)
def test_rejected_modes(given: object, message: str) -> None:
    [violation] = refused(options={"mode": given})
    assert violation.startswith("spec.options.mode: ")
    assert message in violation


def test_flags_default_off_and_atime_to_the_kernel() -> None:
    options = spec().options
    assert (options.ro, options.nosuid, options.nodev, options.noexec) == (False,) * 4
    assert options.atime is None
    assert tmpfs(atime="noatime").options.atime == "noatime"
    assert refused(options={"atime": "lazytime"})[0].startswith("spec.options.atime: ")
    assert refused(options={"ro": "yes"}) == ["spec.options.ro: must be a boolean"]


def test_overlay_layers() -> None:
    overlay = spec(
        fstype="overlay",
        options={"lowerdir": ["/l1", "/l2"], "upperdir": "/u", "workdir": "/w"},
    )
    assert overlay.options.lowerdir == ["/l1", "/l2"]
    read_only = spec(fstype="overlay", options={"lowerdir": ["/l1", "/l2"]})
    assert read_only.options.upperdir is None


@pytest.mark.parametrize(
    ("options", "violation"),
    [
        ({}, "spec.options.lowerdir: is required for overlay: the lower layers"),
        (
            {"lowerdir": ["/l1"]},
            "spec.options.lowerdir: needs two layers or more without an upperdir",
        ),
        (
            {"lowerdir": ["/l1"], "upperdir": "/u"},
            "spec.options.workdir: goes with upperdir: give both or neither",
        ),
        (
            {"lowerdir": ["/l1", "/l2"], "workdir": "/w"},
            "spec.options.workdir: goes with upperdir: give both or neither",
        ),
        (
            {"lowerdir": ["/a:/etc", "/b"]},
            "spec.options.lowerdir[0]: must not contain ':': it is overlay's option syntax",
        ),
        (
            {"lowerdir": ["/a", "/b"], "upperdir": "/u,lowerdir=/etc", "workdir": "/w"},
            "spec.options.upperdir: must not contain ',': it is overlay's option syntax",
        ),
        (
            {"lowerdir": ["/a", "/b"], "upperdir": "/u", "workdir": "/w=x"},
            "spec.options.workdir: must not contain '=': it is overlay's option syntax",
        ),
        ({"lowerdir": ["/a", "relative"]}, "spec.options.lowerdir[1]: must be an absolute path"),
    ],
)
def test_rejected_overlays(options: dict[str, Any], violation: str) -> None:
    problems = refused(fstype="overlay", options=options)
    assert any(problem.startswith(violation) for problem in problems), problems


@pytest.mark.parametrize(
    ("fields", "violation"),
    [
        (
            {"fstype": "ext4", "source": "/dev/vdb", "options": {"size": "1m"}},
            "spec.options.size: applies to tmpfs only",
        ),
        (
            {"fstype": "proc", "options": {"mode": "0555"}},
            "spec.options.mode: applies to tmpfs and ramfs only",
        ),
        ({"options": {"lowerdir": ["/a", "/b"]}}, "spec.options.lowerdir: applies to overlay only"),
        ({"options": {"upperdir": "/u"}}, "spec.options.upperdir: applies to overlay only"),
        ({"options": {"recursive": True}}, "spec.options.recursive: applies to bind mounts only"),
        (
            {"fstype": None, "source": "/srv", "options": {"bind": True, "size": "1m"}},
            "spec.options.size: does not apply to a bind mount",
        ),
        (
            {"fstype": None, "source": "/srv", "options": {"bind": True, "data": {"uid": "1"}}},
            "spec.options.data: does not apply to a bind mount",
        ),
    ],
)
def test_options_that_do_not_fit_the_type_are_named(fields: dict[str, Any], violation: str) -> None:
    assert refused(**fields) == [violation]


def test_data_options_are_allowed_per_type_and_sorted() -> None:
    made = tmpfs(data={"uid": "1000", "gid": "1000", "huge": "within_size"})
    assert list(made.options.data) == ["uid", "gid", "huge"]  # as given; sorted when mounted
    assert spec(
        fstype="ext4", source="/dev/vdb", options={"data": {"discard": ""}}
    ).options.data == {"discard": ""}


@pytest.mark.parametrize(
    ("data", "violation"),
    [
        (
            {"size": "1m"},
            "spec.options.data.size: is not an option cosid passes to tmpfs "
            "(allowed: gid, huge, nr_inodes, uid)",
        ),
        ({"uid": ""}, "spec.options.data.uid: needs a value"),
        (
            {"uid": "0,mode=4777"},
            "spec.options.data.uid: must be letters, digits and _ . : @ + / - only",
        ),
        ({"uid": "0\nx"}, "spec.options.data.uid: must be letters, digits"),
        ({"uid": "0=1"}, "spec.options.data.uid: must be letters, digits"),
        ({"uid": "0\x00"}, "spec.options.data.uid: must be letters, digits"),
        ({"uid": "a b"}, "spec.options.data.uid: must be letters, digits"),
        ({"uid": "x" * 256}, "spec.options.data.uid: is longer than 255 characters"),
        ({"nr_inodes,uid": "0"}, "spec.options.data.nr_inodes,uid: is not an option cosid passes"),
    ],
)
def test_rejected_data_options(data: dict[str, str], violation: str) -> None:
    [problem] = refused(options={"data": data})
    assert problem.startswith(violation), problem


def test_a_flag_takes_no_value() -> None:
    assert refused(fstype="ext4", source="/dev/vdb", options={"data": {"discard": "yes"}}) == [
        "spec.options.data.discard: is a flag: its value must be empty"
    ]


def test_every_problem_is_reported_at_once() -> None:
    problems = refused(
        target="relative",
        fstype="ext4",
        options={"size": "1m", "mode": "nope", "data": {"bogus": "1"}},
    )
    assert sorted(problem.split(":")[0] for problem in problems) == [
        "spec.options.mode",
        "spec.target",
    ]  # rules between fields run once every field is valid


def test_a_combination_problem_lists_every_field() -> None:
    problems = refused(fstype="ext4", options={"size": "1m", "data": {"bogus": "1"}})
    assert sorted(problem.split(":")[0] for problem in problems) == [
        "spec.options.data.bogus",
        "spec.options.size",
        "spec.source",
    ]


@given(
    key=st.sampled_from(sorted(FILESYSTEMS["tmpfs"].values)),
    value=st.text(min_size=1, max_size=300),
)
@example(key="uid", value="0,mode=4777")
@example(key="uid", value="0\nsize=1")
def test_no_accepted_data_value_can_break_the_option_string(key: str, value: str) -> None:
    """Whatever the value, one that passes cannot end its option or start another."""
    try:
        made = tmpfs(data={key: value})
    except ValidationError:
        return
    accepted = made.options.data[key]
    assert not set(accepted) & set(",=\\ \t\n\r\x00")
    assert accepted.isascii()
    assert accepted.isprintable()


# --- models ------------------------------------------------------------------------------------


def test_type_names() -> None:
    assert MOUNT_SPEC_TYPE == "MountSpecs.mounts.cosi.dev"
    assert MOUNT_STATUS_TYPE == "MountStatuses.mounts.cosi.dev"
    assert MOUNT_ORIGINAL_TYPE == "MountOriginals.mounts.cosi.dev"


def test_spec_defaults_and_immutability() -> None:
    made = spec()
    assert (made.mkdir, made.source, made.options.bind) == (False, None, False)
    with pytest.raises(ValidationError, match="frozen"):
        made.target = "/other"  # type: ignore[misc]


def test_unknown_and_missing_fields() -> None:
    with pytest.raises(ValidationError) as raised:
        MountSpec.model_validate({"fstype": "tmpfs", "options": {"readonly": True}})
    assert sorted(
        f"{v.field}: {v.description}" for v in field_violations(raised.value, "spec")
    ) == [
        "spec.options.readonly: is not a known field",
        "spec.target: is required",
    ]


def test_status_and_original() -> None:
    status = MountStatus(target="/mnt/data", mounted=False)
    assert (status.id, status.matches, status.mount_options, status.created_from) == (
        "/mnt/data",
        False,
        [],
        None,
    )
    original = MountOriginal(target="/mnt/data", created_from="/mnt")
    assert original.id == "/mnt/data"
    with pytest.raises(ValidationError):
        MountOriginal(target="/mnt/data", created_from="mnt")
