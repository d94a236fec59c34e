"""The MOTD models: which texts pass and the file content they stand for, the one id, and the
field violations a client gets for what does not pass."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cosid.resources import motd, namespaces
from cosid.resources.document import from_spec, to_spec
from cosid.resources.files import digest
from cosid.resources.motd import (
    MAX_TEXT_BYTES,
    MOTD_ID,
    MOTD_ORIGINAL_TYPE,
    MOTD_SPEC_TYPE,
    MOTD_STATUS_TYPE,
    MotdOriginal,
    MotdSpec,
    MotdStatus,
    parse_id,
    parse_text,
)
from cosid.resources.validation import field_violations
from cosid.state.resource import Spec


def spec(**fields: Any) -> MotdSpec:
    return MotdSpec.model_validate({"text": "Welcome\n", **fields})


def violations(error: pytest.ExceptionInfo[ValidationError], prefix: str = "spec") -> list[str]:
    return [f"{v.field}: {v.description}" for v in field_violations(error.value, prefix)]


# --- text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "text"),
    [
        ("Welcome\n", "Welcome\n"),
        ("Welcome", "Welcome\n"),
        ("", ""),
        ("\n", "\n"),
        ("line 1\nline 2", "line 1\nline 2\n"),
        ("trailing blank lines\n\n\n", "trailing blank lines\n\n\n"),
        ("windows\r\n", "windows\r\n"),
        ("a bare CR\r", "a bare CR\r\n"),
        ("\x1b[1;32mgreen\x1b[0m\n", "\x1b[1;32mgreen\x1b[0m\n"),
        ("Grüße, 世界 🎉", "Grüße, 世界 🎉\n"),
        ("x" * (MAX_TEXT_BYTES - 1), "x" * (MAX_TEXT_BYTES - 1) + "\n"),
        ("é" * (MAX_TEXT_BYTES // 2 - 1) + "\n", "é" * (MAX_TEXT_BYTES // 2 - 1) + "\n"),
    ],
    ids=[
        "newline",
        "no-newline",
        "empty",
        "only-newline",
        "lines",
        "blank-lines",
        "crlf",
        "cr",
        "escapes",
        "unicode",
        "limit-with-added-newline",
        "limit-multibyte",
    ],
)
def test_accepted_texts_are_the_file_content(given: str, text: str) -> None:
    made = spec(text=given)
    assert made.text == text
    assert made.content == text.encode()
    assert len(made.content) <= MAX_TEXT_BYTES


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("a\x00b\n", "must not contain NUL characters"),
        ("\x00", "must not contain NUL characters"),
        ("x" * MAX_TEXT_BYTES, f"is {MAX_TEXT_BYTES + 1} bytes long, the limit is 65536"),
        ("x" * (MAX_TEXT_BYTES + 1) + "\n", f"{MAX_TEXT_BYTES + 2} bytes long"),
        ("é" * (MAX_TEXT_BYTES // 2) + "\n", f"{MAX_TEXT_BYTES + 1} bytes long"),
        ("half a pair \ud800\n", "unpaired surrogate"),
        (None, "must be a string"),
        (1, "must be a string"),
        (["a", "b"], "must be a string"),
    ],
    ids=[
        "nul",
        "only-nul",
        "limit-plus-newline",
        "over-limit",
        "over-limit-multibyte",
        "surrogate",
        "none",
        "number",
        "list",
    ],
)
def test_rejected_texts(given: object, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(text=given)
    [violation] = violations(raised)
    assert violation.startswith("spec.text: ")
    assert message in violation


@given(text=st.text().filter(lambda text: "\x00" not in text))
def test_the_text_is_already_in_its_file_form(text: str) -> None:
    """Once accepted, a text passes again unchanged, ends with a line break unless empty, and
    only ever gains that one line break."""
    try:
        once = parse_text(text)
    except ValueError:
        return
    assert parse_text(once) == once
    assert once == text or once == text + "\n"
    assert once == "" or once.endswith("\n")


def test_yaml_plain_and_block_scalars_mean_the_same_file() -> None:
    plain = from_spec(MotdSpec, Spec(yaml="text: Welcome\n"))
    block = from_spec(MotdSpec, Spec(yaml="text: |\n  Welcome\n"))
    stripped = from_spec(MotdSpec, Spec(yaml="text: |-\n  Welcome\n"))
    assert plain == block == stripped == MotdSpec(text="Welcome\n")
    assert from_spec(MotdSpec, to_spec(plain)) == plain


def test_unknown_and_missing_fields() -> None:
    with pytest.raises(ValidationError) as raised:
        MotdSpec.model_validate({"txt": "Welcome"})
    assert sorted(violations(raised)) == [
        "spec.text: is required",
        "spec.txt: is not a known field",
    ]


def test_spec_is_immutable() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        spec().text = "other"  # type: ignore[misc]


# --- the one resource ------------------------------------------------------------------------


def test_types_kinds_and_the_one_id() -> None:
    assert MOTD_SPEC_TYPE == "MotdSpecs.motd.cosi.dev"
    assert MOTD_STATUS_TYPE == "MotdStatuses.motd.cosi.dev"
    assert MOTD_ORIGINAL_TYPE == "MotdOriginals.motd.cosi.dev"
    assert (motd.SPECS.namespace, motd.ORIGINALS.namespace) == ("motd", "motd")
    assert motd.STATUSES.namespace == "runtime"
    assert namespaces.MOTD.name == "motd"
    assert namespaces.MOTD.durable
    assert MOTD_ID == "motd"
    assert spec().id == MotdStatus(exists=False).id == MotdOriginal(exists=False).id == MOTD_ID


@pytest.mark.parametrize("given", ["", "MOTD", "motd2", "etc/motd", "issue"])
def test_no_other_id(given: str) -> None:
    assert parse_id(MOTD_ID) == MOTD_ID
    with pytest.raises(ValueError, match="must be 'motd': there is one MOTD"):
        parse_id(given)


# --- status and original ---------------------------------------------------------------------


def test_status() -> None:
    content = b"Welcome\n"
    status = MotdStatus(exists=True, sha256=digest(content), size=8, mode=0o644, uid=0, gid=0)
    assert status.path == "/etc/motd"
    assert status.sha256 == "0e90e1aa36481e399939d32680dab2005c299f2bb9c3ba6b151ac0cc821fec7a"
    absent = MotdStatus(exists=False)
    assert (absent.sha256, absent.size, absent.mode, absent.original_sha256) == (None,) * 4
    assert from_spec(MotdStatus, to_spec(status)) == status
    with pytest.raises(ValidationError) as raised:
        MotdStatus.model_validate({"size": -1, "ready": True})
    assert sorted(violations(raised, "status")) == [
        "status.exists: is required",
        "status.ready: is not a known field",
        "status.size: Input should be greater than or equal to 0",
    ]


@pytest.mark.parametrize(
    "content", [b"", b"Welcome\n", b"\xff\xfe not text \x00", "é\r\n".encode() * 100]
)
def test_an_original_round_trips_byte_for_byte(content: bytes) -> None:
    original = MotdOriginal(exists=True, content=content)
    stored = to_spec(original)
    assert from_spec(MotdOriginal, stored) == original
    assert original.sha256 == digest(content)


def test_an_original_without_a_file() -> None:
    original = MotdOriginal(exists=False)
    assert (original.content, original.sha256) == (b"", None)
    assert from_spec(MotdOriginal, to_spec(original)) == original


def test_an_original_must_be_base64() -> None:
    with pytest.raises(ValidationError) as raised:
        MotdOriginal.model_validate({"exists": True, "content": "not base64!"})
    assert violations(raised, "original") == ["original.content: must be base64"]
