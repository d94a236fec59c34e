"""The registry: which types exist, and the names users may call them by."""

from __future__ import annotations

import pytest

from cosid.state.registry import NamespaceDefinition, Registry, ResourceDefinition

NS = NamespaceDefinition("things", "test types")


def aliases(registry: Registry, type_: str) -> tuple[str, ...]:
    return registry.definitions[type_].all_aliases


def test_derived_short_names_are_kept_when_unique() -> None:
    registry = Registry([NS], [ResourceDefinition("LinkSpecs.net.cosi.dev", "things")])
    assert {"ls", "linkspec", "linkspecs", "linkspecs.net"} <= set(
        aliases(registry, "LinkSpecs.net.cosi.dev")
    )


def test_a_short_name_two_types_derive_alike_is_dropped_from_both() -> None:
    specs, statuses = "SysctlSpecs.sysctl.cosi.dev", "SysctlStatuses.sysctl.cosi.dev"
    registry = Registry(
        [NS],
        [
            ResourceDefinition(specs, "things", aliases=("sysctl",)),
            ResourceDefinition(statuses, "things"),
        ],
    )
    for type_ in (specs, statuses):
        assert "ss" not in aliases(registry, type_)
        assert "sss" not in aliases(registry, type_)
    assert "sysctl" in aliases(registry, specs)
    assert "sysctlstatus" in aliases(registry, statuses)


def test_a_namespace_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        Registry([NS, NS])
