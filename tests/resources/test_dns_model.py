"""The DNS models: which name servers, search domains and options pass, in what canonical form,
the exact file a spec stands for, how a file is read back, and the field violations a client
gets for what does not pass (injected lines above all)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cosid.resources import dns, namespaces
from cosid.resources.dns import (
    HEADER,
    RESOLVER_ID,
    ResolverConfig,
    ResolverOptions,
    ResolverOriginal,
    ResolverSpec,
    ResolverStatus,
    file_content,
    parse_nameserver,
    parse_search_domain,
    read_back,
)
from cosid.resources.document import from_spec, to_spec
from cosid.resources.files import digest
from cosid.resources.validation import field_violations
from cosid.state.resource import Spec


def spec(**fields: Any) -> ResolverSpec:
    return ResolverSpec.model_validate({"nameservers": ["192.0.2.53"], **fields})


def violations(error: pytest.ExceptionInfo[ValidationError], prefix: str = "spec") -> list[str]:
    return [f"{v.field}: {v.description}" for v in field_violations(error.value, prefix)]


def refused(**fields: Any) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        spec(**fields)
    return violations(raised)


# --- name servers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("192.0.2.53", "192.0.2.53"),
        ("1.1.1.1", "1.1.1.1"),
        ("127.0.0.53", "127.0.0.53"),
        ("2001:db8::53", "2001:db8::53"),
        ("2001:DB8:0:0::0053", "2001:db8::53"),
        ("::1", "::1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("FE80::1%enp0s31f6", "fe80::1%enp0s31f6"),
        ("fe80::1%3", "fe80::1%3"),
        ("fe80::1%br-lan.100", "fe80::1%br-lan.100"),
    ],
    ids=[
        "ipv4",
        "ipv4-public",
        "loopback-stub",
        "ipv6",
        "ipv6-long-form",
        "ipv6-loopback",
        "zone-name",
        "zone-upper-case-address",
        "zone-index",
        "zone-dots-dashes",
    ],
)
def test_accepted_nameservers(given: str, canonical: str) -> None:
    assert spec(nameservers=[given]).nameservers == (canonical,)
    assert parse_nameserver(canonical) == canonical


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("1.2.3.4\nnameserver 6.6.6.6", "must be an IPv4 or IPv6 address, not '1.2.3.4\\nname"),
        ("not-an-ip", "must be an IPv4 or IPv6 address, not 'not-an-ip'"),
        ("", "must be an IPv4 or IPv6 address, not ''"),
        (" 1.2.3.4", "must be an IPv4 or IPv6 address"),
        ("1.2.3.4 ", "must be an IPv4 or IPv6 address"),
        ("1.2.3.4#53", "must be an IPv4 or IPv6 address"),
        ("01.2.3.4", "must be an IPv4 or IPv6 address"),
        ("1.2.3", "must be an IPv4 or IPv6 address"),
        ("dns.example.com", "must be an IPv4 or IPv6 address"),
        ("[2001:db8::1]", "must be an IPv4 or IPv6 address"),
        ("192.0.2.0/24", "must be an IPv4 or IPv6 address"),
        ("fe80::1%eth0\nnameserver 6.6.6.6", "has the zone id 'eth0\\nnameserver 6.6.6.6'"),
        ("fe80::1%eth 0", "has the zone id 'eth 0': it must be an interface name"),
        ("fe80::1%a-very-long-interface", "has the zone id"),
        ("fe80::1%..", "has the zone id '..'"),
        ("fe80::1%eth0%1", "has the zone id 'eth0%1'"),
        ("fe80::1%", "has the zone id '': it must be an interface name"),
        ("2001:db8::1%eth0", "only when it is link-local (fe80::/10)"),
        ("1.2.3.4%eth0", "only when it is link-local"),
        ("0.0.0.0", "not the unspecified address 0.0.0.0"),
        ("::", "not the unspecified address ::"),
        ("224.0.0.251", "not the multicast address 224.0.0.251"),
        ("ff02::fb", "not the multicast address ff02::fb"),
        ("::ffff:192.0.2.53", "write the IPv4 address 192.0.2.53 itself"),
    ],
    ids=[
        "injected-line",
        "not-an-ip",
        "empty",
        "leading-space",
        "trailing-space",
        "port",
        "leading-zero",
        "short-ipv4",
        "hostname",
        "brackets",
        "network",
        "injected-line-in-zone",
        "space-in-zone",
        "zone-too-long",
        "zone-dot-dot",
        "two-zones",
        "empty-zone",
        "zone-on-global",
        "zone-on-ipv4",
        "unspecified-v4",
        "unspecified-v6",
        "multicast-v4",
        "multicast-v6",
        "ipv4-mapped",
    ],
)
def test_rejected_nameservers(given: str, message: str) -> None:
    [violation] = refused(nameservers=["192.0.2.1", given])
    assert violation.startswith("spec.nameservers[1]: ")
    assert message in violation


def test_nameservers_keep_their_order_and_number() -> None:
    servers = ["2001:db8::2", "192.0.2.1", "fe80::9%eth1"]
    assert spec(nameservers=servers).nameservers == tuple(servers)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ([], "must name at least one server"),
        (["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"], "has 4 servers; resolvers read"),
        (["192.0.2.1", "192.0.2.1"], "lists 192.0.2.1 twice"),
        (["2001:db8::1", "2001:DB8::0001"], "lists 2001:db8::1 twice"),
    ],
    ids=["none", "too-many", "twice", "twice-canonically"],
)
def test_rejected_nameserver_lists(given: list[str], message: str) -> None:
    [violation] = refused(nameservers=given)
    assert violation.startswith(f"spec.nameservers: {message}")


@pytest.mark.parametrize("given", [None, "192.0.2.1", 1, [1], [None]])
def test_nameservers_are_a_list_of_strings(given: object) -> None:
    [violation] = refused(nameservers=given)
    assert violation.startswith("spec.nameservers")


def test_nameservers_are_required() -> None:
    with pytest.raises(ValidationError) as raised:
        ResolverSpec.model_validate({})
    assert violations(raised) == ["spec.nameservers: is required"]


# --- search domains --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("example.com", "example.com"),
        ("Lab.Example.COM", "lab.example.com"),
        ("lan", "lan"),
        ("a-b.c0", "a-b.c0"),
        ("x" * 63 + ".com", "x" * 63 + ".com"),
        (".".join(["a" * 62] * 4) + ".b", ".".join(["a" * 62] * 4) + ".b"),
    ],
    ids=["plain", "upper-case", "single-label", "hyphen-digit", "longest-label", "253-chars"],
)
def test_accepted_search_domains(given: str, canonical: str) -> None:
    assert parse_search_domain(given) == canonical
    assert spec(search=[given]).search == (canonical,)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "must not be empty"),
        ("example.com.", "must not end with a dot"),
        ("example..com", "must not have empty labels"),
        (".example.com", "must not have empty labels"),
        ("-example.com", "has the label '-example'"),
        ("example-.com", "has the label 'example-'"),
        ("ex_ample.com", "has the label 'ex_ample'"),
        ("exa mple.com", "has the label 'exa mple'"),
        ("example.com\nnameserver 6.6.6.6", "has the label 'com\\nnameserver 6'"),
        ("example.com\toptions", "has the label"),
        ("bücher.de", "has the label 'bücher'"),
        ("x" * 64 + ".com", "has a label of 64 characters, the limit is 63"),
        (".".join(["a" * 62] * 4) + ".bc", "is 254 characters long, the limit is 253"),
    ],
    ids=[
        "empty",
        "trailing-dot",
        "double-dot",
        "leading-dot",
        "leading-hyphen",
        "trailing-hyphen",
        "underscore",
        "space",
        "injected-line",
        "tab",
        "unicode",
        "long-label",
        "long-name",
    ],
)
def test_rejected_search_domains(given: str, message: str) -> None:
    [violation] = refused(search=["example.org", given])
    assert violation.startswith("spec.search[1]: ")
    assert message in violation


def test_at_most_six_search_domains_on_at_most_255_characters() -> None:
    six = [f"d{n}.example.com" for n in range(6)]
    assert spec(search=six).search == tuple(six)
    assert refused(search=[*six, "d6.example.com"]) == [
        "spec.search: has 7 domains, the limit is 6 (older glibc and musl ignore the rest)"
    ]
    too_long = [f"{n}" + "x" * 61 + ".io" for n in range(4)]
    assert len(" ".join(too_long)) == 263
    assert refused(search=too_long) == [
        "spec.search: is 263 characters long on the search line, the limit is 255"
    ]
    fits = [f"{n}" + "x" * 59 + ".io" for n in range(4)]
    assert len(" ".join(fits)) == 255
    assert spec(search=fits).search == tuple(fits)


def test_a_search_domain_listed_twice_is_refused() -> None:
    assert refused(search=["example.com", "EXAMPLE.com"]) == [
        "spec.search: lists example.com twice"
    ]


def test_search_defaults_to_none() -> None:
    assert spec().search == ()


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "low", "high"), [("ndots", 0, 15), ("timeout", 1, 30), ("attempts", 1, 5)]
)
def test_numeric_options_and_their_ranges(name: str, low: int, high: int) -> None:
    for value in (low, high):
        assert getattr(spec(options={name: value}).options, name) == value
    for value in (low - 1, high + 1, -1, 1000):
        assert refused(options={name: value}) == [
            f"spec.options.{name}: must be {low} to {high}, not {value}"
        ]
    [wrong_type] = refused(options={name: "2"})
    assert wrong_type.startswith(f"spec.options.{name}: ")
    [a_bool] = refused(options={name: True})
    assert a_bool.startswith(f"spec.options.{name}: ")


@pytest.mark.parametrize(
    "name",
    [
        "rotate",
        "edns0",
        "single_request",
        "single_request_reopen",
        "no_tld_query",
        "use_vc",
        "trust_ad",
        "no_aaaa",
    ],
)
def test_switches(name: str) -> None:
    assert spec().options == ResolverOptions()
    assert getattr(spec(options={name: True}).options, name) is True
    assert refused(options={name: "yes"}) == [f"spec.options.{name}: must be a boolean"]


@pytest.mark.parametrize(
    "given",
    [
        {"ndots:1\nnameserver 6.6.6.6": True},
        {"debug": True},
        {"inet6": True},
        {"single-request": True},
    ],
    ids=["injected-line", "debug", "inet6", "dashed-name"],
)
def test_options_are_a_closed_set(given: dict[str, object]) -> None:
    [violation] = refused(options=given)
    assert violation.endswith(": is not a known field")
    assert violation.startswith("spec.options.")


def test_options_are_not_free_text() -> None:
    assert refused(options="rotate edns0") == [
        "spec.options: Input should be a valid dictionary or instance of ResolverOptions"
    ]


def test_option_words_in_field_order() -> None:
    options = ResolverOptions(
        no_aaaa=True, rotate=True, attempts=2, ndots=0, single_request_reopen=True
    )
    assert options.words() == [
        "ndots:0",
        "attempts:2",
        "rotate",
        "single-request-reopen",
        "no-aaaa",
    ]
    assert ResolverOptions().words() == []


# --- the file --------------------------------------------------------------------------------


def test_the_exact_file_text() -> None:
    full = spec(
        nameservers=["192.0.2.53", "2001:DB8::53", "fe80::1%eth0"],
        search=["Example.com", "lab.example.com"],
        options={"ndots": 2, "timeout": 3, "attempts": 2, "rotate": True, "edns0": True},
    )
    assert file_content(full) == (
        b"# Written by cosid: edits are undone; change cosid's resolver spec instead.\n"
        b"nameserver 192.0.2.53\n"
        b"nameserver 2001:db8::53\n"
        b"nameserver fe80::1%eth0\n"
        b"search example.com lab.example.com\n"
        b"options ndots:2 timeout:3 attempts:2 rotate edns0\n"
    )
    assert file_content(spec()) == HEADER.encode() + b"nameserver 192.0.2.53\n"


def test_a_file_reads_back_as_its_spec() -> None:
    full = spec(
        nameservers=["192.0.2.53", "2001:db8::53"],
        search=["example.com"],
        options={"ndots": 1, "trust_ad": True},
    )
    assert read_back(file_content(full)) == ResolverConfig(
        nameservers=("192.0.2.53", "2001:db8::53"),
        search=("example.com",),
        options=("ndots:1", "trust-ad"),
    )


def test_reading_back_follows_glibc() -> None:
    text = (
        b"# a comment\n"
        b"; another\n"
        b"nameserver 10.0.0.1\n"
        b"nameserver\t10.0.0.2  # trailing words are ignored\n"
        b"nameserver not-an-address\n"
        b"nameserver fe80::1%eth0\n"
        b"nameserver 10.0.0.4\n"
        b"search first.example\n"
        b"domain second.example ignored.example\n"
        b"options ndots:3\n"
        b"sortlist 10.0.0.0/8\n"
        b"options rotate timeout:1\n"
        b"nameservers 10.0.0.9\n"
        b"\xff\n"
    )
    assert read_back(text) == ResolverConfig(
        nameservers=("10.0.0.1", "10.0.0.2", "fe80::1%eth0"),
        search=("second.example",),
        options=("ndots:3", "rotate", "timeout:1"),
    )
    assert read_back(b"") == ResolverConfig()
    assert read_back(b"search a.example b.example\n").search == ("a.example", "b.example")


@given(
    nameservers=st.lists(st.ip_addresses().map(str), min_size=1, max_size=3, unique=True),
    ndots=st.none() | st.integers(0, 15),
    rotate=st.booleans(),
)
def test_every_accepted_spec_reads_back_as_itself(
    nameservers: list[str], ndots: int | None, rotate: bool
) -> None:
    """Whatever passes the model is written one server per line, and read back whole."""
    try:
        made = spec(nameservers=nameservers, options={"ndots": ndots, "rotate": rotate})
    except ValidationError:
        return
    said = read_back(file_content(made))
    assert said.nameservers == made.nameservers
    assert said.options == tuple(made.options.words())
    assert file_content(made).count(b"\n") == 1 + len(nameservers) + bool(said.options)


@given(text=st.text(max_size=40))
def test_no_accepted_name_server_or_domain_holds_whitespace(text: str) -> None:
    for parse in (parse_nameserver, parse_search_domain):
        try:
            parsed = parse(text)
        except ValueError:
            continue
        assert parsed.isprintable()
        assert not any(char.isspace() for char in parsed)


# --- the one resource ------------------------------------------------------------------------


def test_types_kinds_and_the_one_id() -> None:
    assert dns.SPECS.type == "ResolverSpecs.dns.cosi.dev"
    assert dns.STATUSES.type == "ResolverStatuses.dns.cosi.dev"
    assert dns.ORIGINALS.type == "ResolverOriginals.dns.cosi.dev"
    assert (dns.SPECS.namespace, dns.ORIGINALS.namespace) == ("dns", "dns")
    assert dns.STATUSES.namespace == "runtime"
    assert namespaces.DNS.durable
    assert RESOLVER_ID == "resolver"
    assert spec().id == ResolverStatus().id == ResolverOriginal(exists=False).id == RESOLVER_ID
    assert dns.API.name == "Resolver"


def test_spec_is_immutable_and_closed() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        spec().nameservers = ()  # type: ignore[misc]
    assert refused(servers=["192.0.2.1"]) == ["spec.servers: is not a known field"]


def test_yaml_specs() -> None:
    text = "nameservers: [192.0.2.1, '2001:db8::1']\nsearch: [example.com]\noptions: {ndots: 2}\n"
    made = from_spec(ResolverSpec, Spec(yaml=text))
    assert made == spec(
        nameservers=["192.0.2.1", "2001:db8::1"], search=["example.com"], options={"ndots": 2}
    )
    assert from_spec(ResolverSpec, to_spec(made)) == made


def test_a_spec_round_trips_through_its_message() -> None:
    made = spec(search=["example.com"], options={"ndots": 0, "edns0": True})
    message: Any = dns.API.spec_message(made)
    assert message.options.HasField("ndots")
    assert not message.options.HasField("timeout")
    assert dns.API.spec_from_message(message) == made
    bare = dns.API.spec_message(spec())
    assert dns.API.spec_from_message(bare) == spec()


# --- status and original ---------------------------------------------------------------------


def test_status_holds_what_the_file_says_unvalidated() -> None:
    status = ResolverStatus(
        symlink="../run/resolv.conf",
        file="/run/resolv.conf",
        nameservers=("not checked",),
        options=("whatever:99",),
        sha256=digest(b""),
        mode=0o644,
    )
    assert status.path == "/etc/resolv.conf"
    assert from_spec(ResolverStatus, to_spec(status)) == status
    message: Any = dns.API.status_message(status)
    assert (message.mode, message.HasField("original_sha256")) == (420, False)


@pytest.mark.parametrize(
    "original",
    [
        ResolverOriginal(exists=False),
        ResolverOriginal(exists=True, content=b"nameserver 10.0.0.1\n\xff\x00", mode=0o600),
        ResolverOriginal(symlink="/run/systemd/resolve/stub-resolv.conf", exists=False),
        ResolverOriginal(symlink="../run/resolv.conf", exists=True, content=b"x\n"),
    ],
    ids=["nothing", "file", "dangling-symlink", "symlink"],
)
def test_an_original_round_trips_exactly(original: ResolverOriginal) -> None:
    assert from_spec(ResolverOriginal, to_spec(original)) == original
    assert original.sha256 == (digest(original.content) if original.exists else None)
