"""What the daemon said when it refused a batch, told in terms of the manifest's documents.

The daemon names an item by its index in the domain's Apply (`items[1].spec.key`), which means
nothing to someone who wrote a file mixing domains: those become the document's location
(`site.yaml: document 3: spec.key`). A wait that did not converge carries the items not done
in its status details: each gets a line saying where its controller stands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final, TypeVar, cast

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.cli.batches import Batch
from cosid.cli.manifest import ManifestDocument

Detail = TypeVar("Detail", bound=Message)

ITEM_MENTION: Final = re.compile(r"items\[(\d+)\]")
ITEM_FIELD: Final = re.compile(r"items\[(\d+)\](?:\.(.+))?")
INDENT: Final = "  "


class BatchRefusedError(Exception):
    """A domain's Apply failed. `headline` replaces the daemon's message when that message
    names items by index (else None: the daemon's message says it best); `lines` follow it,
    one per field or item."""

    def __init__(self, error: grpc.RpcError, headline: str | None, lines: Sequence[str]) -> None:
        super().__init__(headline or error.details())
        self.error = error
        self.headline = headline
        self.lines = tuple(lines)


def refusal(error: grpc.RpcError, batch: Batch) -> BatchRefusedError:
    """The error to report for `batch`'s failed Apply, its details told per document."""
    details = _details(error)
    violations = [
        (violation.field, violation.description)
        for bad_request in _unpacked(details, error_details_pb2.BadRequest)
        for violation in bad_request.field_violations
    ]
    if violations:
        source = batch.documents[0].location.source
        count = f"{len(violations)} invalid field{'' if len(violations) == 1 else 's'}"
        headline = f"{error.code().name}: {source} has {count}:"
        return BatchRefusedError(error, headline, violation_lines(violations, batch))
    responses = _unpacked(details, batch.api.apply_response_message)
    return BatchRefusedError(
        error, None, [line for r in responses for line in item_lines(r, batch)]
    )


def violation_lines(violations: Iterable[tuple[str, str]], batch: Batch) -> list[str]:
    """`(field, description)` pairs as lines naming documents instead of items."""
    return [
        f"{INDENT}{_field_location(field, batch)}: "
        + ITEM_MENTION.sub(lambda mention: _mention(mention, batch), description)
        for field, description in violations
    ]


def item_lines(response: Message, batch: Batch) -> list[str]:
    """A line per item an ApplyResponse carries (those a wait gave up on): where it stands."""
    lines = []
    for item in response.items:  # type: ignore[attr-defined]  # every ApplyResponse has items
        condition: common_pb2.Condition = item.condition
        why = f"{condition.reason}: {condition.message}" if condition.message else "not ready yet"
        lines.append(f"{INDENT}{batch.prefix}/{item.metadata.id}: {why}")
    return lines


def _field_location(field: str, batch: Batch) -> str:
    """`items[1].spec.key` -> `site.yaml: document 3: spec.key`; a field of no item stays as
    the daemon named it, in the domain's Apply."""
    match = ITEM_FIELD.fullmatch(field)
    document = None if match is None else _document_at(batch, match[1])
    if match is None or document is None:
        return f"{batch.api.name} Apply: {field}"
    return str(document.location) if match[2] is None else f"{document.location}: {match[2]}"


def _mention(mention: re.Match[str], batch: Batch) -> str:
    """`items[0]` in a description (`'x' is also items[0]`) -> `document 1`."""
    document = _document_at(batch, mention[1])
    return mention[0] if document is None else f"document {document.location.index}"


def _document_at(batch: Batch, index: str) -> ManifestDocument | None:
    position = int(index)
    return batch.documents[position] if position < len(batch.documents) else None


def _details(error: grpc.RpcError) -> Sequence[any_pb2.Any]:
    status = rpc_status.from_call(cast(grpc.Call, error))
    return () if status is None else status.details


def _unpacked(details: Sequence[any_pb2.Any], message_type: type[Detail]) -> list[Detail]:
    """The details of one message type, unpacked."""
    found = []
    for detail in details:
        message = message_type()
        if detail.Unpack(message):
            found.append(message)
    return found
