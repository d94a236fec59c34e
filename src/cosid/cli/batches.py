"""A manifest's documents grouped per domain: one batch per typed service, one Apply each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from google.protobuf.message import Message

from cosid.cli.manifest import ManifestDocument, item_message
from cosid.client.definitions import TypeDefinition, resolve
from cosid.resources.catalog import BY_SPEC_TYPE, TYPED_APIS
from cosid.resources.typed import TypedApi


@dataclass(frozen=True, slots=True)
class Batch:
    """One domain's documents, in file order, and the items they became: `items[i]` of its
    Apply (what the daemon's errors name) is `documents[i]`."""

    api: TypedApi
    documents: list[ManifestDocument] = field(default_factory=list)
    items: list[Message] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        """How output names the domain's resources: ``sysctl/net.ipv4.ip_forward``."""
        return self.api.name.lower()


def group_batches(
    documents: Iterable[ManifestDocument], definitions: Iterable[TypeDefinition]
) -> list[Batch]:
    """One batch per domain, in the order the domains first appear. Every document is
    converted before anything is sent, so one that cannot be applied stops the whole file."""
    known = tuple(definitions)
    batches: dict[str, Batch] = {}
    for document in documents:
        api = _typed_api(document, known)
        batch = batches.setdefault(api.specs.type, Batch(api))
        batch.documents.append(document)
        batch.items.append(item_message(api, document))
    return list(batches.values())


def _typed_api(document: ManifestDocument, definitions: Iterable[TypeDefinition]) -> TypedApi:
    """The typed service of the document's type, resolved as `cosictl get` resolves names."""
    resolved = resolve(definitions, document.type_name).type
    api = BY_SPEC_TYPE.get(resolved)
    if api is None:
        served = ", ".join(f"{each.specs.type} ({each.name.lower()})" for each in TYPED_APIS)
        raise document.location.error(
            "metadata.type", f"{resolved} has no typed service; cosictl applies {served}"
        )
    return api
