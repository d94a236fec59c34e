"""`cosictl apply` and `cosictl diff`: a manifest's documents through the typed services.

All or nothing across domains, as far as separate Apply calls allow: first every domain's
Apply runs as a dry run, which validates every item and checks every expected version; only
when all of them passed does each domain's Apply run for real, one after another. (Another
client could still change a spec in between: then that domain's Apply is refused, and the
domains before it stay applied.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final, TextIO

import grpc
from google.protobuf.message import Message

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.cli.batches import Batch, group_batches
from cosid.cli.manifest import read_manifest
from cosid.cli.refusals import refusal
from cosid.client import Client, TypedClient

ACTION_WORDS: Final = {
    common_pb2.ACTION_CREATE: "created",
    common_pb2.ACTION_UPDATE: "configured",
    common_pb2.ACTION_UNCHANGED: "unchanged",
}
"""What each item's line says, in kubectl's words."""


def apply(
    client: Client,
    typed: TypedClient,
    path: str,
    *,
    dry_run: bool,
    wait: float | None,
    stdout: TextIO,
) -> None:
    """Apply the manifest at `path` (`-`: stdin), a line per item; with `dry_run`, the
    lines and diffs of what would happen. `wait`: seconds for everything to converge.

    Raises ManifestError, or BatchRefusedError naming the documents the daemon refused.
    """
    batches = _load_batches(client, path)
    previews = _preview(typed, batches)
    if dry_run:
        for batch, response in zip(batches, previews, strict=True):
            for change in _changes(response):
                stdout.write(_change_line(batch, change, " (dry run)") + change.diff)
        return
    deadline = None if wait is None else time.monotonic() + wait
    for batch in batches:
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        response = _send(typed, batch, dry_run=False, wait=remaining)
        stdout.writelines(_change_line(batch, change) for change in _changes(response))
        stdout.flush()
    if wait is not None:
        stdout.write("waited: every item is ready\n")


def diff(client: Client, typed: TypedClient, path: str, stdout: TextIO) -> bool:
    """Print the unified diff of everything applying `path` would change; True if anything
    would (so that `cosictl diff` can exit 1, as `diff` and `kubectl diff` do)."""
    diffs = [
        change.diff
        for response in _preview(typed, _load_batches(client, path))
        for change in _changes(response)
        if change.action != common_pb2.ACTION_UNCHANGED
    ]
    stdout.writelines(diffs)
    return bool(diffs)


def _load_batches(client: Client, path: str) -> list[Batch]:
    """The manifest read (before the daemon is asked anything) and grouped per domain."""
    documents = read_manifest(path)
    return group_batches(documents, client.definitions())


def _preview(typed: TypedClient, batches: Sequence[Batch]) -> list[Message]:
    """Every batch's dry-run ApplyResponse: raises for the first the daemon refuses, so
    nothing is stored unless every batch would be."""
    return [_send(typed, batch, dry_run=True, wait=None) for batch in batches]


def _changes(response: Message) -> Sequence[common_pb2.Change]:
    return response.changes  # type: ignore[attr-defined, no-any-return]  # every ApplyResponse


def _change_line(batch: Batch, change: common_pb2.Change, note: str = "") -> str:
    """``sysctl/net.ipv4.ip_forward configured`` (and the note)."""
    return f"{batch.prefix}/{change.id} {ACTION_WORDS[change.action]}{note}\n"


def _send(typed: TypedClient, batch: Batch, *, dry_run: bool, wait: float | None) -> Message:
    try:
        return typed.apply(batch.api, batch.items, dry_run=dry_run, wait=wait)
    except grpc.RpcError as error:
        raise refusal(error, batch) from error
