"""The kernel module models: which names and parameters pass, their canonical form, and the
field violations a client gets for the ones that do not."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cosid.resources.modules import (
    MAX_NAME_LENGTH,
    MODULE_ORIGINAL_TYPE,
    MODULE_SPEC_TYPE,
    MODULE_STATUS_TYPE,
    KernelModuleOriginal,
    KernelModuleSpec,
    KernelModuleStatus,
    parameter_string,
    parse_name,
)
from cosid.resources.validation import field_violations


def spec(**fields: Any) -> KernelModuleSpec:
    return KernelModuleSpec.model_validate({"name": "bonding", **fields})


def violations(error: pytest.ExceptionInfo[ValidationError], prefix: str = "spec") -> list[str]:
    return [f"{v.field}: {v.description}" for v in field_violations(error.value, prefix)]


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("bonding", "bonding"),
        ("8021q", "8021q"),
        ("amd-uncore", "amd_uncore"),
        ("amd_uncore", "amd_uncore"),
        ("rtnl-link-vlan", "rtnl_link_vlan"),
        ("Q", "Q"),
        ("a" * MAX_NAME_LENGTH, "a" * MAX_NAME_LENGTH),
    ],
)
def test_accepted_names(given: str, canonical: str) -> None:
    assert spec(name=given).name == canonical
    assert spec(name=given).id == canonical
    assert KernelModuleStatus(name=given, state="absent").id == canonical


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "must not be empty"),
        ("a" * (MAX_NAME_LENGTH + 1), f"is 56 characters long, the limit is {MAX_NAME_LENGTH}"),
        ("../bonding", "must not contain '/'"),
        ("/lib/modules/x/bonding.ko", "must not contain '/'"),
        ("net/bonding", "must not contain '/'"),
        ("..", "letters, digits, '_' and '-'"),
        ("bonding.ko", "letters, digits, '_' and '-'"),
        ("bonding\n", "letters, digits, '_' and '-'"),
        ("bond ing", "letters, digits, '_' and '-'"),
        ("bonding\x00", "letters, digits, '_' and '-'"),
        ("pci:v00008086d*", "letters, digits, '_' and '-'"),
        ("bündel", "letters, digits, '_' and '-'"),
    ],
)
def test_rejected_names(given: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(name=given)
    [violation] = violations(raised)
    assert violation.startswith("spec.name: ")
    assert message in violation
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_name(given)


@given(text=st.text())
def test_a_valid_name_is_never_a_path(text: str) -> None:
    """Whatever the text, a name that passes is one plain path component of the module
    alphabet, and canonical (parsing it again changes nothing)."""
    try:
        name = parse_name(text)
    except ValueError:
        return
    assert re.fullmatch(r"[A-Za-z0-9_]{1,55}", name)
    assert name not in (".", "..")
    assert parse_name(name) == name


# --- parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "parameters"),
    [
        ({}, {}),
        ({"mode": "active-backup", "miimon": "100"}, {"mode": "active-backup", "miimon": "100"}),
        ({"max_bonds": 2}, {"max_bonds": "2"}),  # YAML numbers
        ({"debug": True, "quiet": False}, {"debug": "Y", "quiet": "N"}),  # YAML booleans
        (
            {"list": "1,2,3", "path": "/lib/firmware/x=y"},
            {"list": "1,2,3", "path": "/lib/firmware/x=y"},
        ),
        ({"v": "x" * 1024}, {"v": "x" * 1024}),
    ],
)
def test_accepted_parameters(given: dict[str, object], parameters: dict[str, str]) -> None:
    assert spec(parameters=given).parameters == parameters


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"mode": "active-backup\nmiimon=1"}, "mode: the value 'active-backup\\nmiimon=1'"),
        ({"mode": "a b"}, "without spaces, line breaks or '\"'"),
        ({"mode": "a\tb"}, "without spaces"),
        ({"mode": '"quoted"'}, "without spaces, line breaks or '\"'"),
        ({"mode": "a\x00b"}, "printable ASCII"),
        ({"mode": ""}, "mode: the value must not be empty"),
        ({"mode": "é"}, "printable ASCII"),
        ({"v": "x" * 1025}, "v: the value is 1025 characters long, the limit is 1024"),
        ({"bad name": "1"}, "has the name 'bad name'"),
        ({"line\nbreak": "1"}, "has the name 'line\\nbreak'"),
        ({"mode=x": "1"}, "has the name 'mode=x'"),
        ({"dash-ed": "1"}, "letters, digits and '_'"),
        ({"": "1"}, "has the name ''"),
        ({"n" * 65: "1"}, "1 to 64"),
        ({f"p{i}": "1" for i in range(65)}, "has 65 entries, the limit is 64"),
    ],
)
def test_rejected_parameters(given: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(parameters=given)
    [violation] = violations(raised)
    assert violation.startswith("spec.parameters: ")
    assert message in violation


@pytest.mark.parametrize("given", [None, [1], {"mode": None}, {"mode": [1]}, "mode=1"])
def test_parameters_are_a_map_of_text(given: object) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(parameters=given)
    assert violations(raised)[0].startswith("spec.parameters")


def test_the_kernel_gets_one_word_per_parameter() -> None:
    made = spec(parameters={"mode": "active-backup", "max_bonds": 2})
    assert parameter_string(made.parameters) == "mode=active-backup max_bonds=2"
    assert parameter_string({}) == ""


# --- models --------------------------------------------------------------------------------


def test_type_names() -> None:
    assert MODULE_SPEC_TYPE == "KernelModuleSpecs.modules.cosi.dev"
    assert MODULE_STATUS_TYPE == "KernelModuleStatuses.modules.cosi.dev"
    assert MODULE_ORIGINAL_TYPE == "KernelModuleOriginals.modules.cosi.dev"


def test_unknown_missing_and_frozen_fields() -> None:
    with pytest.raises(ValidationError) as raised:
        KernelModuleSpec.model_validate({"parameter": {"a": "1"}})
    assert sorted(violations(raised)) == [
        "spec.name: is required",
        "spec.parameter: is not a known field",
    ]
    with pytest.raises(ValidationError, match="frozen"):
        spec().name = "dummy"  # type: ignore[misc]


def test_status_and_original() -> None:
    status = KernelModuleStatus(
        name="rtnl-link-vlan",
        module="8021q",
        state="live",
        refcount=0,
        dependencies=("llc", "stp", "garp", "mrp"),
        file="kernel/net/8021q/8021q.ko.xz",
        loaded_by_cosid=True,
    )
    assert (status.id, status.holders, status.parameters) == ("rtnl_link_vlan", (), {})
    with pytest.raises(ValidationError) as raised:
        KernelModuleStatus.model_validate({"name": "x/y", "state": "loaded", "refcount": -1})
    assert sorted(violations(raised, "status")) == [
        "status.name: must not contain '/': it names a module, not a file",
        "status.refcount: Input should be greater than or equal to 0",
        "status.state: Input should be 'live', 'loading', 'unloading', 'builtin' or 'absent'",
    ]
    assert KernelModuleOriginal(name="garp", loaded=False).loaded is False
