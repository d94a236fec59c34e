"""Type definitions as the daemon publishes them, and resolving what a user typed to a type.

The daemon describes each built-in type with a `ResourceDefinitions.meta.cosi.dev` resource in
namespace `meta`. Resolving "ns", "namespaces" or "rd" through them (case-insensitively, over
the type, its aliases and all its aliases) is what talosctl does, so the same names work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from cosid.state.registry import PrintColumn
from cosid.state.resource import Resource

FALLBACK_NAMESPACE = "default"
"""Where a type no definition names is looked for: the open namespace of opaque types."""


@dataclass(frozen=True, slots=True)
class TypeDefinition:
    type: str
    default_namespace: str
    display_type: str
    aliases: frozenset[str] = frozenset()
    """Every lowercased name the type answers to besides its own (aliases and allAliases)."""
    print_columns: tuple[PrintColumn, ...] = ()

    def answers_to(self, name: str) -> bool:
        lowered = name.lower()
        return lowered == self.type.lower() or lowered in self.aliases


def literal_definition(name: str) -> TypeDefinition:
    """What an unknown name stands for: itself, in the fallback namespace, without columns."""
    return TypeDefinition(name, FALLBACK_NAMESPACE, name)


def definition_from_resource(resource: Resource) -> TypeDefinition | None:
    """The definition a ResourceDefinition's YAML spec describes; None if it is unreadable.

    Unreadable definitions are skipped rather than fatal: one bad entry must not make every
    other type unresolvable.
    """
    try:
        spec = yaml.safe_load(resource.spec.yaml)
    except yaml.YAMLError:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        return None
    names = [*_strings(spec.get("aliases")), *_strings(spec.get("allAliases"))]
    columns = spec.get("printColumns")
    return TypeDefinition(
        type=spec["type"],
        default_namespace=str(spec.get("defaultNamespace") or FALLBACK_NAMESPACE),
        display_type=str(spec.get("displayType") or spec["type"]),
        aliases=frozenset(name.lower() for name in names),
        print_columns=tuple(
            PrintColumn(str(column["name"]), str(column["jsonPath"]))
            for column in (columns if isinstance(columns, list) else [])
            if isinstance(column, dict) and "name" in column and "jsonPath" in column
        ),
    )


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def resolve(definitions: Iterable[TypeDefinition], name: str) -> TypeDefinition:
    """The first definition answering to `name`, else `name` taken literally."""
    return next((d for d in definitions if d.answers_to(name)), literal_definition(name))
