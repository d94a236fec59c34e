"""The hostname models: which hostnames and domains pass, their canonical form, and the field
violations a client gets for the ones that do not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cosid.resources import namespaces
from cosid.resources.hostname import (
    DEFINITIONS,
    HOSTNAME_ID,
    HOSTNAME_ORIGINAL_TYPE,
    HOSTNAME_SPEC_TYPE,
    HOSTNAME_STATUS_TYPE,
    MAX_NAME_BYTES,
    ORIGINALS,
    SPECS,
    STATUSES,
    HostnameOriginal,
    HostnameSpec,
    HostnameStatus,
    file_content,
    parse_hostname,
)
from cosid.resources.validation import field_violations


def spec(**fields: Any) -> HostnameSpec:
    return HostnameSpec.model_validate({"hostname": "web-01", **fields})


def violations(error: pytest.ExceptionInfo[ValidationError], prefix: str = "spec") -> list[str]:
    return [f"{v.field}: {v.description}" for v in field_violations(error.value, prefix)]


LONGEST = ".".join(["a" * 63, "b"])  # 65 bytes: one too many
assert len(LONGEST) == MAX_NAME_BYTES + 1


# --- hostnames -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("web-01", "web-01"),
        ("Web-01", "web-01"),
        ("WEB-01.Example.COM", "web-01.example.com"),
        ("localhost", "localhost"),
        ("a", "a"),
        ("0", "0"),
        ("1node", "1node"),  # RFC 1123 allows a leading digit
        ("x--y", "x--y"),
        ("a" * 63, "a" * 63),
        ("a" * 62 + ".b", "a" * 62 + ".b"),  # 64 bytes, HOST_NAME_MAX
        ("a" * 31 + "." + "b" * 32, "a" * 31 + "." + "b" * 32),
    ],
)
def test_accepted_hostnames(given: str, canonical: str) -> None:
    assert spec(hostname=given).hostname == canonical
    assert parse_hostname(given) == canonical


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "must not be empty"),
        ("a" * 65, "is 65 bytes long, the limit is 64"),
        ("a" * 64 + "é", "is 66 bytes long, the limit is 64"),
        ("a" * 64 + ".b", "is 66 bytes long, the limit is 64"),
        ("a" * 64, "has a label of 64 characters, the limit is 63"),
        ("web.", "must not end with a dot"),
        (".web", "empty labels"),
        ("web..example", "empty labels"),
        ("-web", "'-web'"),
        ("web-", "'web-'"),
        ("web.-x", "'-x'"),
        ("web_01", "'web_01'"),
        ("web 01", "'web 01'"),
        (" web", "' web'"),
        ("web\n", "'web\\n'"),
        ("web\x00", "'web\\x00'"),
        ("wéb", "'wéb'"),
        ("xn--wb-cia", None),  # punycode is plain labels: accepted (checked below)
        ("web/01", "'web/01'"),
        ("*", "'*'"),
    ],
)
def test_rejected_hostnames(given: str, message: str | None) -> None:
    if message is None:
        assert spec(hostname=given).hostname == given
        return
    with pytest.raises(ValidationError) as raised:
        spec(hostname=given)
    [violation] = violations(raised)
    assert violation.startswith("spec.hostname: ")
    assert message in violation


@pytest.mark.parametrize("given", [None, 1, ["web"], True])
def test_hostnames_are_strings(given: object) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(hostname=given)
    assert violations(raised) == ["spec.hostname: must be a string"]


@given(st.text(max_size=80))
def test_a_valid_hostname_is_what_the_kernel_and_the_file_take(text: str) -> None:
    """Whatever the text, a hostname that passes is lower-case ASCII of at most 64 bytes, one
    line of /etc/hostname, and its own canonical form."""
    try:
        hostname = parse_hostname(text)
    except ValueError:
        return
    data = hostname.encode("ascii")
    assert 0 < len(data) <= MAX_NAME_BYTES
    assert hostname == hostname.lower() == text.lower()
    assert file_content(hostname).splitlines() == [hostname]
    assert parse_hostname(hostname) == hostname


# --- domains -------------------------------------------------------------------------------


def test_the_domain_is_optional_and_keeps_its_case() -> None:
    assert spec().domain is None
    assert spec(domain="Corp.Example").domain == "Corp.Example"
    assert spec(domain="A" * 62 + ".b").domain == "A" * 62 + ".b"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "must not be empty"),
        ("a" * 65, "is 65 bytes long, the limit is 64"),
        ("(none)", "'(none)'"),
        ("corp.", "must not end with a dot"),
        ("co rp", "'co rp'"),
        (1, "must be a string"),
    ],
)
def test_rejected_domains(given: object, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(domain=given)
    [violation] = violations(raised)
    assert violation.startswith("spec.domain: ")
    assert message in violation


# --- models --------------------------------------------------------------------------------


def test_types_kinds_and_id() -> None:
    assert HOSTNAME_SPEC_TYPE == "HostnameSpecs.hostname.cosi.dev"
    assert HOSTNAME_STATUS_TYPE == "HostnameStatuses.hostname.cosi.dev"
    assert HOSTNAME_ORIGINAL_TYPE == "HostnameOriginals.hostname.cosi.dev"
    assert (SPECS.namespace, STATUSES.namespace, ORIGINALS.namespace) == (
        "hostname",
        "runtime",
        "hostname",
    )
    assert namespaces.HOSTNAME.name == "hostname"
    assert namespaces.HOSTNAME.durable is True
    assert [d.type for d in DEFINITIONS] == [SPECS.type, STATUSES.type, ORIGINALS.type]
    assert DEFINITIONS[1].display_type == "HostnameStatus"
    assert spec().id == HOSTNAME_ID == "hostname"


def test_spec_immutability_and_unknown_fields() -> None:
    made = spec()
    with pytest.raises(ValidationError, match="frozen"):
        made.hostname = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError) as raised:
        HostnameSpec.model_validate({"hostnme": "web"})
    assert sorted(violations(raised)) == [
        "spec.hostname: is required",
        "spec.hostnme: is not a known field",
    ]


def test_status_and_original_hold_what_the_kernel_has_unvalidated() -> None:
    status = HostnameStatus(hostname="WEIRD_name", domain="(none)", file="# x\nname\n")
    assert (status.id, status.file_exists) == (HOSTNAME_ID, True)
    assert HostnameStatus(hostname="h", domain="(none)").file_exists is False
    original = HostnameOriginal(hostname="Old_Name", domain="(none)")
    assert original.file is None
    with pytest.raises(ValidationError) as raised:
        HostnameStatus.model_validate({"hostname": "h", "ready": True})
    assert sorted(violations(raised, "status")) == [
        "status.domain: is required",
        "status.ready: is not a known field",
    ]
