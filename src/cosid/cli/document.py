"""A resource as the plain document `-o yaml` and `-o json` print: metadata and parsed spec."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml

from cosid.state.resource import UNDEFINED_VERSION, Resource

Document = dict[str, object]


def resource_document(resource: Resource) -> Document:
    metadata = resource.metadata
    return {
        "metadata": {
            "namespace": metadata.namespace,
            "type": metadata.type,
            "id": metadata.id,
            "version": None if metadata.version == UNDEFINED_VERSION else metadata.version,
            "owner": metadata.owner,
            "phase": metadata.phase.value,
            "created": rfc3339(metadata.created),
            "updated": rfc3339(metadata.updated),
            "labels": dict(metadata.labels),
            "annotations": dict(metadata.annotations),
            "finalizers": list(metadata.finalizers),
        },
        "spec": parsed_spec(resource),
    }


def parsed_spec(resource: Resource) -> object:
    """The YAML spec parsed, or the text itself when it is not YAML (specs are opaque)."""
    try:
        return yaml.safe_load(resource.spec.yaml)
    except yaml.YAMLError:
        return resource.spec.yaml


def rfc3339(nanos: int | None) -> str | None:
    """Unix nanoseconds as RFC 3339 in UTC, to the nanosecond (as Go's RFC3339Nano)."""
    if nanos is None:
        return None
    seconds, fraction = divmod(nanos, 10**9)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += f".{fraction:09d}".rstrip("0")
    return text + "Z"
