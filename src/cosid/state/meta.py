"""The `meta` namespace: one resource per namespace and per built-in type, so that any COSI
client (talosctl-style short names included) can discover what this daemon serves."""

from __future__ import annotations

import yaml

from cosid.api.cosi.resource.meta import meta_pb2
from cosid.state.registry import (
    META_NAMESPACE,
    META_OWNER,
    NAMESPACES_TYPE,
    RESOURCE_DEFINITIONS_TYPE,
    NamespaceDefinition,
    Registry,
    ResourceDefinition,
)
from cosid.state.resource import Metadata, Resource, Spec
from cosid.state.state import State


def namespace_resource(namespace: NamespaceDefinition) -> Resource:
    spec = meta_pb2.NamespaceSpec(description=namespace.description)
    return Resource(
        Metadata(META_NAMESPACE, NAMESPACES_TYPE, namespace.name),
        Spec(
            proto=spec.SerializeToString(deterministic=True),
            yaml=yaml.safe_dump({"description": namespace.description}, sort_keys=False),
        ),
    )


def definition_resource(definition: ResourceDefinition) -> Resource:
    sensitivity = meta_pb2.ResourceDefinitionSpec.Sensitivity
    spec = meta_pb2.ResourceDefinitionSpec(
        resource_type=definition.type,
        display_type=definition.display_type,
        default_namespace=definition.default_namespace,
        aliases=definition.aliases,
        all_aliases=definition.all_aliases,
        print_columns=[
            meta_pb2.ResourceDefinitionSpec.PrintColumn(name=c.name, json_path=c.json_path)
            for c in definition.print_columns
        ],
        sensitivity=sensitivity.SENSITIVE if definition.sensitive else sensitivity.NON_SENSITIVE,
    )
    document: dict[str, object] = {
        "type": definition.type,
        "displayType": definition.display_type,
        "defaultNamespace": definition.default_namespace,
        "aliases": list(definition.aliases),
        "allAliases": list(definition.all_aliases),
        "printColumns": [
            {"name": c.name, "jsonPath": c.json_path} for c in definition.print_columns
        ],
    }
    if definition.sensitive:
        document["sensitivity"] = "sensitive"
    return Resource(
        Metadata(META_NAMESPACE, RESOURCE_DEFINITIONS_TYPE, definition.id),
        Spec(
            proto=spec.SerializeToString(deterministic=True),
            yaml=yaml.safe_dump(document, sort_keys=False),
        ),
    )


async def publish_meta(state: State, registry: Registry) -> None:
    """Create the meta resources (owned by "meta", so clients cannot change them by accident)."""
    for namespace in registry.namespaces.values():
        await state.create(namespace_resource(namespace), owner=META_OWNER)
    for definition in registry.definitions.values():
        await state.create(definition_resource(definition), owner=META_OWNER)
