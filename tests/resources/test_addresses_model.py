"""AddressSpec's rules: CIDRs (v4, v6, canonical form), scopes, flags, link names, ids."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cosid.resources.addresses import AddressSpec


@pytest.mark.parametrize(
    ("fields", "address", "scope", "id"),
    [
        ({"address": "10.0.0.5/24"}, "10.0.0.5/24", "global", "eth0/10.0.0.5/24"),
        ({"address": " 10.0.0.5/32 "}, "10.0.0.5/32", "global", "eth0/10.0.0.5/32"),
        ({"address": "10.0.0.5/24", "scope": "host"}, "10.0.0.5/24", "host", None),
        ({"address": "2001:DB8:0::5/64"}, "2001:db8::5/64", "global", "eth0/2001:db8::5/64"),
        ({"address": "fe80::1/64"}, "fe80::1/64", "link", "eth0/fe80::1/64"),
        ({"address": "fe80::1/64", "scope": ""}, "fe80::1/64", "link", None),
        ({"address": "::1/128"}, "::1/128", "host", None),
    ],
)
def test_valid_addresses_are_canonical(
    fields: dict[str, Any], address: str, scope: str, id: str | None
) -> None:
    spec = AddressSpec.model_validate({"link": "eth0", **fields})
    assert (spec.address, spec.scope) == (address, scope)
    assert id is None or spec.id == id


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"address": "10.0.0.5"}, "address"),
        ({"address": "10.0.0.256/24"}, "address"),
        ({"address": "10.0.0.5/33"}, "address"),
        ({"address": "010.0.0.5/24"}, "address"),
        ({"address": "2001:db8::g/64"}, "address"),
        ({"address": "2001:db8::5/129"}, "address"),
        ({"address": "fe80::1%eth0/64"}, "address"),
        ({"address": "0.0.0.0/0"}, "address"),
        ({"address": "224.0.0.1/4"}, "address"),
        ({"address": "ff02::1/64"}, "address"),
        ({"address": ""}, "address"),
        ({"address": "10.0.0.5/24", "scope": "site"}, "scope"),
        ({"address": "2001:db8::5/64", "scope": "link"}, "scope"),
        ({"address": "fe80::1/64", "scope": "global"}, "scope"),
        ({"address": "10.0.0.5/24", "flags": ["nodad"]}, "flags"),
        ({"address": "10.0.0.5/24", "flags": ["secondary"]}, "flags"),
        ({"address": "10.0.0.5/24", "link": "a/b"}, "link"),
        ({"address": "10.0.0.5/24", "link": "a-very-long-name0"}, "link"),
        ({"address": "10.0.0.5/24", "link": ""}, "link"),
        ({"address": "10.0.0.5/24", "label": "eth0:1"}, "label"),
    ],
)
def test_invalid_specs_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        AddressSpec.model_validate({"link": "eth0", **fields})
    assert raised.value.errors()[0]["loc"][0] == field


def test_flags_are_sorted_without_repeats() -> None:
    spec = AddressSpec(
        link="eth0", address="2001:db8::5/64", flags=["nodad", "noprefixroute", "nodad"]
    )
    assert spec.flags == ["nodad", "noprefixroute"]


@given(st.ip_addresses(), st.integers(min_value=0, max_value=128))
def test_any_unicast_address_round_trips_through_its_id(address: Any, length: int) -> None:
    length = min(length, address.max_prefixlen)
    try:
        spec = AddressSpec(link="eth0", address=f"{address}/{length}")
    except ValidationError:
        assert address.is_unspecified or address.is_multicast
        return
    link, cidr = spec.id.split("/", 1)
    assert AddressSpec(link=link, address=cidr) == spec
