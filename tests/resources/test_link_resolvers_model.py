"""The LinkResolverSpec model: the one place per-link DNS input is checked."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cosid.resources.link_resolvers import (
    MAX_LINK_DOMAINS,
    MAX_LINK_SERVERS,
    LinkResolverSpec,
    join_domain,
    split_domain,
)


def test_a_spec_is_held_in_canonical_form_and_named_by_its_link() -> None:
    spec = LinkResolverSpec(
        link="eth0",
        servers=("192.0.2.53", "2001:DB8::0053"),
        domains=("Lab.Example.com", "~Corp.Example", "~."),
        default_route=True,
    )

    assert spec.id == "eth0"
    assert spec.servers == ("192.0.2.53", "2001:db8::53")
    assert spec.domains == ("lab.example.com", "~corp.example", "~.")
    assert spec.default_route is True


def test_only_the_link_is_required() -> None:
    spec = LinkResolverSpec(link="eth0")

    assert (spec.servers, spec.domains, spec.default_route) == ((), (), None)


BAD: list[tuple[dict[str, Any], tuple[Any, ...], str]] = [
    ({"servers": ["fe80::1%eth0"]}, ("servers", 0), "must not have a zone id"),
    ({"servers": ["not-an-ip"]}, ("servers", 0), "must be an IPv4 or IPv6 address"),
    ({"servers": ["0.0.0.0"]}, ("servers", 0), "unspecified"),
    ({"servers": ["224.0.0.1"]}, ("servers", 0), "multicast"),
    ({"servers": ["192.0.2.1", "192.0.2.1"]}, ("servers",), "lists 192.0.2.1 twice"),
    (
        {"servers": [f"192.0.2.{n}" for n in range(1, MAX_LINK_SERVERS + 2)]},
        ("servers",),
        f"the limit is {MAX_LINK_SERVERS}",
    ),
    ({"domains": ["~"]}, ("domains", 0), "must not be empty"),
    ({"domains": ["."]}, ("domains", 0), ""),
    ({"domains": ["-bad.example"]}, ("domains", 0), ""),
    ({"domains": ["a.example\nb"]}, ("domains", 0), ""),
    ({"domains": ["A.example", "a.example"]}, ("domains",), "lists a.example twice"),
    (
        {"domains": [f"d{n}.example" for n in range(MAX_LINK_DOMAINS + 1)]},
        ("domains",),
        f"the limit is {MAX_LINK_DOMAINS}",
    ),
    ({"default_route": "yes"}, ("default_route",), ""),
    ({"link": "a/b"}, ("link",), ""),
    ({"options": {}}, ("options",), "Extra inputs"),
]


@pytest.mark.parametrize(("fields", "where", "message"), BAD)
def test_bad_input_is_refused_at_its_field(
    fields: dict[str, Any], where: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        LinkResolverSpec.model_validate({"link": "eth0", **fields})

    [error] = raised.value.errors()
    assert error["loc"] == where
    assert message in error["msg"]


labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(st.lists(labels, min_size=1, max_size=4), st.booleans())
def test_a_domain_survives_the_round_trip_through_resolveds_pairs(
    parts: list[str], routing_only: bool
) -> None:
    domain = join_domain(".".join(parts), routing_only)

    [held] = LinkResolverSpec(link="eth0", domains=(domain,)).domains

    assert held == domain
    assert join_domain(*split_domain(held)) == held
    assert split_domain(held) == (".".join(parts), routing_only)
