"""Grouping a manifest per domain, and telling the daemon's refusals per document (no daemon)."""

from __future__ import annotations

import pytest

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.api.cosi.sysctl.v1alpha1 import sysctl_pb2
from cosid.cli.batches import Batch, group_batches
from cosid.cli.manifest import ManifestError, parse_manifest
from cosid.cli.refusals import item_lines, violation_lines
from cosid.client import TypeDefinition

DEFINITIONS = (
    TypeDefinition("SysctlSpecs.sysctl.cosi.dev", "sysctl", "SysctlSpec", frozenset({"sysctl"})),
    TypeDefinition("MotdSpecs.motd.cosi.dev", "motd", "MotdSpec", frozenset({"motd"})),
)

MIXED = """\
metadata: {type: sysctl}
spec: {key: net.ipv4.ip_forward}
---
metadata: {type: MOTD}
spec: {text: hello}
---
metadata: {type: SysctlSpecs.sysctl.cosi.dev}
spec: {key: net..x}
"""


def batches(text: str = MIXED) -> list[Batch]:
    return group_batches(parse_manifest(text, "site.yaml"), DEFINITIONS)


def test_documents_are_grouped_per_domain_in_order_of_appearance() -> None:
    grouped = batches()
    assert [(b.prefix, [d.location.index for d in b.documents]) for b in grouped] == [
        ("sysctl", [1, 3]),
        ("motd", [2]),
    ]
    assert [item.spec.key for item in grouped[0].items] == [  # type: ignore[attr-defined]
        "net.ipv4.ip_forward",
        "net..x",
    ]


@pytest.mark.parametrize("type_name", ["Greetings.example.org", "sysctlstatus"])
def test_a_type_without_a_typed_service_is_refused(type_name: str) -> None:
    with pytest.raises(ManifestError, match=f"^site.yaml: document 2: metadata.type: {type_name} "):
        batches(f"{MIXED.split('---')[0]}---\nmetadata: {{type: {type_name}}}\nspec: {{}}\n")


def test_violations_name_documents_instead_of_items() -> None:
    sysctls = batches()[0]
    violations = [
        ("items[1].spec.key", "must not have empty components"),
        ("items[1].metadata.id", "'x' is also items[0]"),
        ("items[1]", "is wrong"),
        ("items[7].spec", "is required"),
        ("items", "has 1001 entries, the limit is 1000"),
    ]
    assert violation_lines(violations, sysctls) == [
        "  site.yaml: document 3: spec.key: must not have empty components",
        "  site.yaml: document 3: metadata.id: 'x' is also document 1",
        "  site.yaml: document 3: is wrong",
        "  Sysctl Apply: items[7].spec: is required",
        "  Sysctl Apply: items: has 1001 entries, the limit is 1000",
    ]


def test_items_a_wait_gave_up_on_say_where_they_stand() -> None:
    response = sysctl_pb2.ApplyResponse(
        items=[
            sysctl_pb2.Sysctl(
                metadata=common_pb2.ObjectMeta(id="net.ipv4.nope"),
                condition=common_pb2.Condition(reason="NotSupported", message="not here"),
            ),
            sysctl_pb2.Sysctl(metadata=common_pb2.ObjectMeta(id="net.ipv4.ip_forward")),
        ]
    )
    assert item_lines(response, batches()[0]) == [
        "  sysctl/net.ipv4.nope: NotSupported: not here",
        "  sysctl/net.ipv4.ip_forward: not ready yet",
    ]
