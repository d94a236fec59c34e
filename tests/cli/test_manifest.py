"""Reading manifests into typed items, without a daemon: what is taken, converted or refused."""

from __future__ import annotations

import re

import pytest
from google.protobuf.message import Message

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.api.cosi.hostname.v1alpha1 import hostname_pb2
from cosid.api.cosi.sysctl.v1alpha1 import sysctl_pb2
from cosid.cli.manifest import Location, ManifestError, item_message, parse_manifest
from cosid.resources import dns, hostname, modules, sysctl

PRINTED_BY_GET = """\
---
metadata:
  namespace: hostname
  type: HostnameSpecs.hostname.cosi.dev
  id: hostname
  version: 2
  owner: ''
  phase: running
  created: '2026-11-23T12:59:02.172544141Z'
  updated: '2026-11-23T12:59:02.173392641Z'
  labels:
    role: web
  annotations: {}
  finalizers:
  - hostname
spec:
  hostname: node-1
  domain: null
"""


def sysctl_item(text: str) -> Message:
    """The Sysctl item of a manifest of one document."""
    (document,) = parse_manifest(text, "site.yaml")
    return item_message(sysctl.API, document)


def refusal(text: str) -> str:
    with pytest.raises(ManifestError) as refused:
        sysctl_item(text)
    return str(refused.value)


def test_what_get_prints_becomes_the_item_it_shows() -> None:
    (document,) = parse_manifest(PRINTED_BY_GET, "-")
    assert (document.type_name, document.location) == (
        "HostnameSpecs.hostname.cosi.dev",
        Location("-", 1),
    )
    assert item_message(hostname.API, document) == hostname_pb2.Hostname(
        metadata=common_pb2.ObjectMeta(id="hostname", version=2, labels={"role": "web"}),
        spec=hostname_pb2.HostnameSpec(hostname="node-1"),  # null: domain left unset
    )


def test_documents_keep_their_position_and_empty_ones_are_skipped() -> None:
    text = "---\n---\nmetadata: {type: sysctl}\nspec: {}\n---\nmetadata: {type: motd}\nspec: {}\n"
    documents = parse_manifest(text, "site.yaml")
    assert [(d.type_name, d.location.index) for d in documents] == [("sysctl", 2), ("motd", 3)]


@pytest.mark.parametrize(
    ("written", "sent"), [("1", "1"), ("1.5", "1.5"), ("'01'", "01"), ("4096 87380", "4096 87380")]
)
def test_numbers_for_text_fields_become_their_text(written: str, sent: str) -> None:
    item = sysctl_item(
        f"metadata: {{type: sysctl, labels: {{tier: 1}}}}\nspec: {{value: {written}}}"
    )
    assert item == sysctl_pb2.Sysctl(
        metadata=common_pb2.ObjectMeta(labels={"tier": "1"}),
        spec=sysctl_pb2.SysctlSpec(value=sent),
    )


def test_an_empty_spec_is_still_sent_for_the_daemon_to_judge() -> None:
    item = sysctl_item("metadata: {type: sysctl}\nspec: {}\n")
    assert item.HasField("spec")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "metadata: {type: sysctl}\nspec: {key: a.b, vaule: 1}",
            "spec.vaule: unknown field (SysctlSpec has key, value, ignore_errors)",
        ),
        (
            "metadata: {type: sysctl}\nspec: {value: true}",
            "spec.value: must be text, not a boolean",
        ),
        ("metadata: {type: sysctl}\nspec: {value: [1]}", "spec.value: must be text, not a list"),
        (
            "metadata: {type: sysctl}\nspec: {ignore_errors: 'no'}",
            "spec: Failed to parse ignore_errors field",
        ),
        ("metadata: {type: sysctl, lables: {a: b}}\nspec: {}", "metadata.lables: unknown key"),
        ("metadata: {type: sysctl}\nspec: {}\nstatus: {}", "status: unknown key"),
        ("metadata: {id: x}\nspec: {}", "metadata.type: is required"),
        ("metadata: {type: sysctl}", "spec: is required"),
        ("spec: {}", "metadata: is required"),
        ("metadata: {type: sysctl, version: -1}\nspec: {}", "metadata.version: must be a"),
        ("metadata: {type: sysctl, version: '2'}\nspec: {}", "metadata.version: must be a"),
        ("metadata: {type: sysctl, id: {a: b}}\nspec: {}", "metadata.id: must be text, not a"),
        ("metadata: {type: sysctl, labels: {a: null}}\nspec: {}", "labels.a: must be text, not"),
        ("[a, b]", "must be a mapping with metadata and spec"),
    ],
)
def test_what_cannot_become_an_item_is_refused_naming_document_and_key(
    text: str, message: str
) -> None:
    refused = refusal(text)
    assert refused.startswith("site.yaml: document 1: "), refused
    assert message in refused


def test_yaml_errors_name_the_file() -> None:
    with pytest.raises(
        ManifestError, match=r'(?s)^site\.yaml: not valid YAML: .*in "site\.yaml", line 1'
    ):
        parse_manifest("metadata: [", "site.yaml")


def test_a_manifest_without_documents_is_refused() -> None:
    with pytest.raises(ManifestError, match=r"^stdin: no documents$"):
        parse_manifest("---\n# nothing\n", "stdin")


def test_lists_maps_and_nested_messages_are_converted_field_by_field() -> None:
    [document] = parse_manifest(
        "metadata: {type: resolver}\n"
        "spec:\n"
        "  nameservers: [192.0.2.53, '2001:db8::53']\n"
        "  search: [example.com]\n"
        "  options: {ndots: 2, rotate: true}\n",
        "site.yaml",
    )
    item = item_message(dns.API, document)
    spec = item.spec  # type: ignore[attr-defined]
    assert list(spec.nameservers) == ["192.0.2.53", "2001:db8::53"]
    assert list(spec.search) == ["example.com"]
    assert (spec.options.ndots, spec.options.rotate) == (2, True)

    [module] = parse_manifest(
        "metadata: {type: module}\nspec: {name: dummy, parameters: {numdummies: 2}}\n", "m.yaml"
    )
    parameters = item_message(modules.API, module).spec.parameters  # type: ignore[attr-defined]
    assert dict(parameters) == {"numdummies": "2"}


@pytest.mark.parametrize(
    ("spec", "key", "problem"),
    [
        ("{nameservers: 192.0.2.53}", "spec.nameservers", "must be a list, not str"),
        ("{nameservers: [[1]]}", "spec.nameservers[0]", "must be text, not a list"),
        ("{options: [ndots]}", "spec.options", "must be a mapping, not a list"),
        ("{options: {colour: 1}}", "spec.options.colour", "unknown field"),
    ],
)
def test_nested_values_of_the_wrong_shape_name_their_key(spec: str, key: str, problem: str) -> None:
    [document] = parse_manifest(f"metadata: {{type: resolver}}\nspec: {spec}\n", "bad.yaml")
    with pytest.raises(ManifestError, match=f"document 1: {re.escape(key)}: {problem}"):
        item_message(dns.API, document)
