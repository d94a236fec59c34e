"""The sysctl models: which keys and values pass, their canonical form, and the field
violations a client gets for the ones that do not."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from cosid.resources import sysctl
from cosid.resources.sysctl import (
    MAX_KEY_LENGTH,
    SYSCTL_SPEC_TYPE,
    SYSCTL_STATUS_TYPE,
    SysctlSpec,
    SysctlStatus,
    key_path,
    parse_key,
    values_match,
)
from cosid.resources.validation import FieldViolation, field_violations


def spec(**fields: Any) -> SysctlSpec:
    return SysctlSpec.model_validate({"key": "net.ipv4.ip_forward", "value": "1", **fields})


def violations(error: pytest.ExceptionInfo[ValidationError], prefix: str = "spec") -> list[str]:
    return [f"{v.field}: {v.description}" for v in field_violations(error.value, prefix)]


# --- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical", "path"),
    [
        ("net.ipv4.ip_forward", "net.ipv4.ip_forward", "net/ipv4/ip_forward"),
        ("net/ipv4/ip_forward", "net.ipv4.ip_forward", "net/ipv4/ip_forward"),
        ("kernel.version", "kernel.version", "kernel/version"),
        ("vm/swappiness", "vm.swappiness", "vm/swappiness"),
        # A component with a dot: slashed it is verbatim, dotted the dot is written "/".
        (
            "net/ipv4/conf/eth0.100/forwarding",
            "net.ipv4.conf.eth0/100.forwarding",
            "net/ipv4/conf/eth0.100/forwarding",
        ),
        (
            "net.ipv4.conf.eth0/100.forwarding",
            "net.ipv4.conf.eth0/100.forwarding",
            "net/ipv4/conf/eth0.100/forwarding",
        ),
        ("net.ipv4.conf.a/b/c.x", "net.ipv4.conf.a/b/c.x", "net/ipv4/conf/a.b.c/x"),
        # The first separator decides: a later one of the other kind is part of a component.
        ("net/ipv4.x/y", "net.ipv4/x.y", "net/ipv4.x/y"),
        ("net.ipv4/x.y", "net.ipv4/x.y", "net/ipv4.x/y"),
        ("net.ipv4.conf.br-lan.rp_filter", "net.ipv4.conf.br-lan.rp_filter", None),
        ("net.ipv4.conf.wlän0.forwarding", "net.ipv4.conf.wlän0.forwarding", None),
        ("fs.a" + "b" * (MAX_KEY_LENGTH - 4), "fs.a" + "b" * (MAX_KEY_LENGTH - 4), None),
    ],
)
def test_accepted_keys(given: str, canonical: str, path: str | None) -> None:
    assert spec(key=given).key == canonical
    assert spec(key=given).id == canonical
    assert SysctlStatus(key=given, supported=True).key == canonical
    if path is not None:
        assert spec(key=given).path == key_path(canonical) == path


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "must not be empty"),
        ("net", "at least two components"),
        ("/proc/sys/net/ipv4/ip_forward", "not an absolute path"),
        ("/net/ipv4/ip_forward", "not an absolute path"),
        ("net/../kernel/version", "'..' components"),
        ("../net/ipv4", "empty components"),  # dotted: "//.net.ipv4"
        ("net/ipv4/../..", "'..' components"),
        ("net/./ipv4", "'.' or '..' components"),
        ("net.//.kernel.version", "'..' components"),  # dotted: "/" is a dot, so "//" is ".."
        ("net./.ipv4", "'.' or '..' components"),
        ("net//ipv4", "empty components"),
        ("net..ipv4", "empty components"),
        ("net.ipv4.", "empty components"),
        ("net/ipv4/", "empty components"),
        ("net.ipv4.ip_forward\x00", "control characters"),
        ("net.ipv4.ip\x7fforward", "control characters"),
        ("net.ipv4.ip_forward\x1b", "control characters"),
        ("net.ipv4.ip_forward\n", "whitespace"),
        ("net.ipv4. ip_forward", "whitespace"),
        ("net.ipv4.ip_forward\t", "whitespace"),
        ("net.ipv4.ip_forward\u00a0", "whitespace"),
        ("net.ipv4.ip_forward=1", "must not contain '='"),
        ("net.ipv4.conf.*.rp_filter", "must not contain '*'"),
        ("net.ipv4.conf.eth?.rp_filter", "must not contain '?'"),
        ("net.ipv4.conf.eth[01].rp_filter", "must not contain '['"),
        ("-net.ipv4.ip_forward", "top-level sysctl directory"),
        ("Net.ipv4.ip_forward", "top-level sysctl directory"),
        ("./net/ipv4", "empty components"),
        ("fs.a" + "b" * (MAX_KEY_LENGTH - 3), f"the limit is {MAX_KEY_LENGTH}"),
    ],
)
def test_rejected_keys(given: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(key=given)
    [violation] = violations(raised)
    assert violation.startswith("spec.key: ")
    assert message in violation
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_key(given)


@pytest.mark.parametrize("given", [None, 1, ["net", "ipv4"]])
def test_keys_are_strings(given: object) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(key=given)
    assert violations(raised)[0].startswith("spec.key: ")


_KEY_PIECES = st.sampled_from(["net", "ipv4", "a.b", ".", "/", "..", "./", "/.", "-", " ", "\x00"])


@given(text=st.one_of(st.text(), st.lists(_KEY_PIECES).map("".join)))
@example(text="net/../../etc/passwd")
@example(text="net.//.//.etc.passwd")
@example(text="net.ipv4.conf.eth0/100.forwarding")
def test_a_valid_key_never_leaves_proc_sys(text: str) -> None:
    """Whatever the text, a key that passes names a file strictly inside /proc/sys, and the
    canonical form and the path are one-to-one."""
    try:
        key = parse_key(text)
    except ValueError:
        return
    path = key_path(key)
    joined = os.path.join("/proc/sys", path)
    assert os.path.normpath(joined) == joined
    assert joined.startswith("/proc/sys/")
    assert len(path.split("/")) >= 2
    assert parse_key(key) == key
    assert parse_key(path) == key
    assert key_path(path) == key


@settings(max_examples=50)
@given(text=st.from_regex(r"[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+", fullmatch=True))
def test_the_fast_path_agrees_with_the_full_rules(text: str) -> None:
    """Common dotted keys skip the character checks; the full rules must say the same."""
    if len(text) <= MAX_KEY_LENGTH:
        assert parse_key(text) == sysctl._parse_any_key(text) == text


# --- values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "value"),
    [
        ("1", "1"),
        ("1\n", "1"),
        ("  -1 \r\n", "-1"),
        ("4096 87380 6291456", "4096 87380 6291456"),
        ("4096\t87380\t6291456\n", "4096\t87380\t6291456"),
        ("|/usr/lib/core-handler %p %e", "|/usr/lib/core-handler %p %e"),
        ("", ""),
        ("x" * 4096, "x" * 4096),
        ("é" * 2048, "é" * 2048),  # 4096 bytes
        (1, "1"),  # YAML "value: 1"
        (2.5, "2.5"),
    ],
)
def test_accepted_values(given: object, value: str) -> None:
    assert spec(value=given).value == value


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("1\x002", "control characters"),
        ("1\n2", "line breaks"),
        ("1\nkernel.panic = 1", "line breaks"),
        ("\x1b[31m", "control characters"),
        ("1\u20282", "line breaks"),
        ("x" * 4097, "4097 bytes long, the limit is 4096"),
        ("é" * 2049, "4098 bytes long, the limit is 4096"),
        (True, "must be a string"),
        (None, "must be a string"),
        ([1, 2], "must be a string"),
    ],
)
def test_rejected_values(given: object, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(value=given)
    [violation] = violations(raised)
    assert violation.startswith("spec.value: ")
    assert message in violation


@pytest.mark.parametrize(
    ("wanted", "current", "match"),
    [
        ("1", "1", True),
        ("1", "0", False),
        ("4096 87380 6291456", "4096\t87380\t6291456", True),
        ("4096 87380 6291456", "4096\t87380", False),
        ("a b", "ab", False),
    ],
)
def test_values_match_whatever_separates_the_parts(wanted: str, current: str, match: bool) -> None:
    assert values_match(wanted, current) is match


# --- models --------------------------------------------------------------------------------


def test_type_names() -> None:
    assert SYSCTL_SPEC_TYPE == "SysctlSpecs.sysctl.cosi.dev"
    assert SYSCTL_STATUS_TYPE == "SysctlStatuses.sysctl.cosi.dev"


def test_spec_defaults_and_immutability() -> None:
    made = spec()
    assert made.ignore_errors is False
    assert spec(ignore_errors=True).ignore_errors is True
    with pytest.raises(ValidationError, match="frozen"):
        made.value = "0"  # type: ignore[misc]


@pytest.mark.parametrize("given", ["yes", 1, "true", None])
def test_ignore_errors_is_a_real_boolean(given: object) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(ignore_errors=given)
    assert violations(raised) == ["spec.ignore_errors: must be a boolean"]


def test_unknown_and_missing_fields() -> None:
    with pytest.raises(ValidationError) as raised:
        SysctlSpec.model_validate({"key": "net.ipv4.ip_forward", "vaule": "1"})
    assert sorted(violations(raised)) == [
        "spec.value: is required",
        "spec.vaule: is not a known field",
    ]


def test_status() -> None:
    status = SysctlStatus(key="net/ipv4/ip_forward", supported=True, current="1", original="0")
    assert (status.id, status.current, status.original) == ("net.ipv4.ip_forward", "1", "0")
    unsupported = SysctlStatus(key="net.ipv4.nothing", supported=False)
    assert (unsupported.current, unsupported.original) == (None, None)
    with pytest.raises(ValidationError) as raised:
        SysctlStatus.model_validate({"key": "net/../x", "current": "1", "ready": True})
    assert sorted(violations(raised, "status")) == [
        "status.key: must not have '.' or '..' components",
        "status.ready: is not a known field",
        "status.supported: is required",
    ]


# --- field violations -----------------------------------------------------------------------


class Batch(BaseModel):
    specs: list[SysctlSpec]


def test_violations_name_nested_fields_with_indexes() -> None:
    with pytest.raises(ValidationError) as raised:
        Batch.model_validate(
            {
                "specs": [
                    {"key": "net.ipv4.ip_forward", "value": "1"},
                    {"key": "/etc/passwd", "value": "1\x00"},
                ]
            }
        )
    assert field_violations(raised.value, "request") == [
        FieldViolation(
            "request.specs[1].key", "must be relative to /proc/sys, not an absolute path"
        ),
        FieldViolation(
            "request.specs[1].value",
            "must not contain control characters or line breaks "
            "(spaces or tabs separate the numbers of a vector)",
        ),
    ]


def test_violations_without_a_prefix() -> None:
    with pytest.raises(ValidationError) as raised:
        spec(key="")
    assert field_violations(raised.value) == [FieldViolation("key", "must not be empty")]


def test_a_whole_model_of_the_wrong_shape_is_named_by_the_prefix() -> None:
    with pytest.raises(ValidationError) as raised:
        SysctlSpec.model_validate(["net.ipv4.ip_forward", "1"])
    [violation] = field_violations(raised.value, "spec")
    assert violation.field == "spec"
