"""RouteSpec's rules: destinations (canonical, default, host bits), families, gateways and
sources, types, tables, metrics, scopes, protocols, and ids that parse back."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cosid.resources.routes import RouteKey, RouteSpec, parse_route_id


@pytest.mark.parametrize(
    ("fields", "id", "derived"),
    [
        ({"destination": "10.1.0.0/16", "link": "v0"}, "main/10.1.0.0/16/0", {"scope": "link"}),
        ({"destination": " 10.1.0.1 ", "link": "v0"}, "main/10.1.0.1/32/0", {"family": "inet"}),
        (
            {"destination": "default", "gateway": "10.0.0.1"},
            "main/0.0.0.0/0/0",
            {"scope": "universe", "protocol": "static", "type": "unicast"},
        ),
        ({"destination": "default", "family": "inet6", "type": "blackhole"}, "main/::/0/1024", {}),
        (
            {"destination": "default", "source": "2001:db8::1", "link": "v0", "metric": 0},
            "main/::/0/1024",
            {"family": "inet6", "scope": "universe"},
        ),
        ({"destination": "2001:DB8:0::/64", "link": "v0", "metric": 5}, "main/2001:db8::/64/5", {}),
        ({"destination": "10.0.0.0/8", "link": "v0", "table": 254}, "main/10.0.0.0/8/0", {}),
        ({"destination": "10.0.0.0/8", "link": "v0", "table": "255"}, "local/10.0.0.0/8/0", {}),
        ({"destination": "10.0.0.0/8", "link": "v0", "table": 4000}, "4000/10.0.0.0/8/0", {}),
        (
            {"destination": "10.0.0.0/8", "link": "v0", "protocol": 16, "scope": "host"},
            "main/10.0.0.0/8/0",
            {"protocol": "dhcp", "scope": "host"},
        ),
        (
            {"destination": "10.0.0.0/8", "link": "v0", "table": "", "scope": "", "protocol": ""},
            "main/10.0.0.0/8/0",
            {"table": "main", "scope": "link", "protocol": "static"},
        ),
        ({"destination": "default", "gateway": "169.254.0.1"}, "main/0.0.0.0/0/0", {}),
        (
            {"destination": "::/0", "gateway": "fe80::1", "link": "v0"},
            "main/::/0/1024",
            {"gateway": "fe80::1"},
        ),
    ],
)
def test_valid_routes_are_canonical(
    fields: dict[str, Any], id: str, derived: dict[str, Any]
) -> None:
    spec = RouteSpec.model_validate(fields)
    assert spec.id == id
    assert {field: getattr(spec, field) for field in derived} == derived
    assert RouteSpec.model_validate(spec.model_dump()) == spec


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"destination": "10.1.2.3/16", "link": "v0"}, "destination"),
        ({"destination": "10.1.0.0/33", "link": "v0"}, "destination"),
        ({"destination": "010.1.0.0/16", "link": "v0"}, "destination"),
        ({"destination": "fe80::/64%v0", "link": "v0"}, "destination"),
        ({"destination": "default", "link": "v0"}, "destination"),
        ({"destination": "", "link": "v0"}, "destination"),
        ({"destination": "10.0.0.0/8", "family": "inet6", "link": "v0"}, "family"),
        ({"destination": "10.0.0.0/8", "family": "ipx", "link": "v0"}, "family"),
        ({"destination": "10.0.0.0/8", "gateway": "2001:db8::1"}, "gateway"),
        ({"destination": "10.0.0.0/8", "gateway": "10.0.0.1/24"}, "gateway"),
        ({"destination": "10.0.0.0/8", "gateway": "0.0.0.0"}, "gateway"),
        ({"destination": "10.0.0.0/8", "gateway": "224.0.0.1"}, "gateway"),
        ({"destination": "10.0.0.0/8", "link": "v0", "source": "2001:db8::1"}, "source"),
        ({"destination": "10.0.0.0/8"}, "link"),
        ({"destination": "10.0.0.0/8", "link": "a/b"}, "link"),
        ({"destination": "::/0", "gateway": "fe80::1"}, "link"),
        ({"destination": "10.0.0.0/8", "type": "blackhole", "link": "v0"}, "link"),
        ({"destination": "10.0.0.0/8", "type": "prohibit", "gateway": "10.0.0.1"}, "gateway"),
        ({"destination": "10.0.0.0/8", "type": "local", "link": "v0"}, "type"),
        ({"destination": "10.0.0.0/8", "link": "v0", "table": 0}, "table"),
        ({"destination": "10.0.0.0/8", "link": "v0", "table": 2**32}, "table"),
        ({"destination": "10.0.0.0/8", "link": "v0", "table": "-1"}, "table"),
        ({"destination": "10.0.0.0/8", "link": "v0", "table": "0100"}, "table"),
        ({"destination": "10.0.0.0/8", "link": "v0", "table": "mine"}, "table"),
        ({"destination": "10.0.0.0/8", "link": "v0", "table": "\u00b2"}, "table"),
        ({"destination": "10.0.0.0/8", "link": "v0", "table": True}, "table"),
        ({"destination": "10.0.0.0/8", "link": "v0", "metric": -1}, "metric"),
        ({"destination": "10.0.0.0/8", "link": "v0", "metric": 2**32}, "metric"),
        ({"destination": "10.0.0.0/8", "link": "v0", "metric": "5"}, "metric"),
        ({"destination": "10.0.0.0/8", "link": "v0", "scope": "global"}, "scope"),
        ({"destination": "10.0.0.0/8", "gateway": "10.0.0.1", "scope": "link"}, "scope"),
        ({"destination": "2001:db8::/64", "link": "v0", "scope": "link"}, "scope"),
        ({"destination": "10.0.0.0/8", "link": "v0", "protocol": "ospf2"}, "protocol"),
        ({"destination": "10.0.0.0/8", "link": "v0", "protocol": 0}, "protocol"),
        ({"destination": "10.0.0.0/8", "link": "v0", "protocol": 256}, "protocol"),
        ({"destination": "10.0.0.0/8", "link": "v0", "tos": 4}, "tos"),
    ],
)
def test_invalid_specs_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        RouteSpec.model_validate(fields)
    assert [error["loc"][0] for error in raised.value.errors()] == [field]


@pytest.mark.parametrize(
    "id",
    [
        "main/10.0.0.0/8",
        "main/10.1.2.3/16/0",
        "254/10.0.0.0/8/0",
        "main/10.0.0.0/8/01",
        "main/10.0.0.0/8/\u00b2",
        "x/::/0/1",
    ],
)
def test_ids_that_are_not_canonical_do_not_parse(id: str) -> None:
    with pytest.raises(ValueError, match="is not a"):
        parse_route_id(id)


@given(
    st.ip_addresses(),
    st.integers(min_value=0, max_value=128),
    st.integers(min_value=1, max_value=2**32 - 1),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_route_round_trips_through_its_id(
    address: Any, length: int, table: int, metric: int
) -> None:
    network = ipaddress.ip_network(f"{address}/{min(length, address.max_prefixlen)}", strict=False)
    spec = RouteSpec(destination=str(network), type="blackhole", table=str(table), metric=metric)
    assert (
        parse_route_id(spec.id) == spec.key == RouteKey(spec.table, spec.destination, spec.metric)
    )
