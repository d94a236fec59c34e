"""The link models: names, kinds and their options, MTU and MAC rules, as clients see them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cosid.resources.links import LinkSpec

VALID: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"name": "eth0", "kind": "physical"}, {"up": True, "mtu": None, "master": None}),
    ({"name": "a" * 15, "kind": "bridge", "mtu": 68}, {"mtu": 68}),
    ({"name": "v0", "kind": "veth", "veth": {"peer": "v1"}, "master": "br0"}, {"master": "br0"}),
    ({"name": "p", "kind": "physical", "mac": "02:AA:bb:00:00:01"}, {"mac": "02:aa:bb:00:00:01"}),
    ({"name": "p", "kind": "physical", "mac": "02-00-00-00-00-01"}, {"mac": "02:00:00:00:00:01"}),
    ({"name": "v10", "kind": "vlan", "vlan": {"id": 4094, "parent": "eth0"}}, {}),
    ({"name": "b0", "kind": "bond", "bond": {"mode": "802.3ad"}}, {}),
    ({"name": "b0", "kind": "bond"}, {"bond": None}),
    ({"name": "x", "kind": "vxlan", "vxlan": {"vni": 16777215, "port": 4789}}, {}),
    ({"name": "m", "kind": "macvlan", "macvlan": {"parent": "eth0"}}, {}),
    ({"name": "d", "kind": "dummy", "mtu": 65535, "up": False}, {"up": False}),
]


@pytest.mark.parametrize(("given", "expected"), VALID)
def test_valid_specs(given: dict[str, Any], expected: dict[str, Any]) -> None:
    spec = LinkSpec.model_validate(given)
    assert spec.id == given["name"]
    for field, value in expected.items():
        assert getattr(spec, field) == value


INVALID: list[tuple[dict[str, Any], tuple[str | int, ...], str]] = [
    ({"name": "", "kind": "bridge"}, ("name",), "must not be empty"),
    ({"name": "a" * 16, "kind": "bridge"}, ("name",), "at most 15 bytes"),
    ({"name": "é" * 8, "kind": "bridge"}, ("name",), "at most 15 bytes"),
    ({"name": "a/b", "kind": "bridge"}, ("name",), "must not contain '/'"),
    ({"name": "a:1", "kind": "bridge"}, ("name",), "must not contain ':'"),
    ({"name": "a b", "kind": "bridge"}, ("name",), "must not contain ' '"),
    ({"name": "a\n", "kind": "bridge"}, ("name",), "must not contain"),
    ({"name": "..", "kind": "bridge"}, ("name",), "'.' or '..'"),
    ({"name": "x", "kind": "ethernet"}, ("kind",), "Input should be"),
    ({"name": "x", "kind": "bridge", "mtu": 67}, ("mtu",), "greater than or equal to 68"),
    ({"name": "x", "kind": "bridge", "mtu": 65536}, ("mtu",), "less than or equal to 65535"),
    ({"name": "x", "kind": "bridge", "mtu": "1500"}, ("mtu",), "valid integer"),
    ({"name": "x", "kind": "bridge", "mac": "02:00:00:00:00"}, ("mac",), "six hex octets"),
    ({"name": "x", "kind": "bridge", "mac": "01:00:5e:00:00:01"}, ("mac",), "unicast"),
    ({"name": "x", "kind": "bridge", "mac": "00:00:00:00:00:00"}, ("mac",), "all zeros"),
    ({"name": "x", "kind": "bridge", "master": "x"}, ("master",), "another link"),
    ({"name": "x", "kind": "bridge", "master": "b/r"}, ("master",), "must not contain '/'"),
    ({"name": "x", "kind": "vlan", "vlan": {"id": 0, "parent": "e"}}, ("vlan", "id"), ">= 1"),
    ({"name": "x", "kind": "vlan", "vlan": {"id": 4095, "parent": "e"}}, ("vlan", "id"), "4094"),
    ({"name": "x", "kind": "vlan"}, ("vlan",), "is required for kind vlan"),
    ({"name": "x", "kind": "veth"}, ("veth",), "is required for kind veth"),
    ({"name": "x", "kind": "veth", "veth": {"peer": "x"}}, ("veth",), "another name"),
    ({"name": "x", "kind": "bridge", "veth": {"peer": "y"}}, ("veth",), "kind veth only"),
    ({"name": "x", "kind": "bond", "bond": {"mode": "fastest"}}, ("bond", "mode"), "802.3ad"),
    ({"name": "x", "kind": "vxlan", "vxlan": {"vni": 1 << 24}}, ("vxlan", "vni"), "16777215"),
    ({"name": "x", "kind": "vxlan", "vxlan": {"vni": 1, "port": 0}}, ("vxlan", "port"), ">= 1"),
    (
        {"name": "x", "kind": "macvlan", "macvlan": {"parent": "e", "mode": "x"}},
        ("macvlan", "mode"),
        "bridge",
    ),
    ({"name": "x", "kind": "bridge", "up": "yes"}, ("up",), "valid boolean"),
    ({"name": "x", "kind": "bridge", "colour": "red"}, ("colour",), "Extra inputs"),
]


@pytest.mark.parametrize(("given", "location", "message"), INVALID)
def test_invalid_specs_name_the_field(
    given: dict[str, Any], location: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        LinkSpec.model_validate(given)
    [error] = raised.value.errors()
    assert error["loc"] == location
    assert message.replace(">= 1", "greater than or equal to 1") in error["msg"]


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as raised:
        LinkSpec.model_validate({"name": "a/b", "kind": "bridge", "mtu": 1, "mac": "x"})
    assert {error["loc"] for error in raised.value.errors()} == {("name",), ("mtu",), ("mac",)}
