"""The JSONPath subset of print columns, evaluated on parsed YAML specs."""

from __future__ import annotations

import pytest

from cosid.cli.jsonpath import JsonPathError, compile_path, render

SPEC = {
    "aliases": ["ns", "namespace"],
    "link": {"name": "eth0", "mtu": 1500, "up": True, "master": None},
    "addresses": [{"cidr": "10.0.0.5/24"}, {"cidr": "fd00::5/64"}],
}


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("{.aliases[:]}", "ns namespace"),
        ("{.aliases[0]}", "ns"),
        ("{.aliases[-1]}", "namespace"),
        ("{.aliases[2]}", ""),
        ("{.aliases}", '["ns","namespace"]'),
        ("{.link.name}", "eth0"),
        ("{.link.mtu}", "1500"),
        ("{.link.up}", "true"),
        ("{.link.master}", ""),
        ("{.link.missing}", ""),
        ("{.addresses[:].cidr}", "10.0.0.5/24 fd00::5/64"),
        ("{.addresses[1].cidr}", "fd00::5/64"),
        ("{.link[0]}", ""),
        ("{.aliases.name}", ""),
    ],
)
def test_paths_reach_values_as_kubectl_prints_them(path: str, text: str) -> None:
    assert render(compile_path(path).values(SPEC)) == text


def test_a_spec_that_is_not_a_mapping_has_no_values() -> None:
    assert compile_path("{.a.b}").values("just text") == []


@pytest.mark.parametrize(
    "path", ["", ".a", "{}", "{a}", "{.a[*]}", "{.a[1:2]}", "{.a}{.b}", "{range .a}", "{.a b}"]
)
def test_paths_outside_the_subset_are_refused(path: str) -> None:
    with pytest.raises(JsonPathError, match="JSONPath"):
        compile_path(path)
