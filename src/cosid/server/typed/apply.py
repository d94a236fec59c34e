"""Apply, before anything is stored: every item validated, then planned against the store.

Validation names every bad field of every item in one answer (`items[2].spec.value`), through
the domain's pydantic model, so the rules live once. Planning decides per item: create,
update or unchanged (the stored spec model and labels are equal: nothing is written, no
version moves), with a diff a person can read.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import yaml
from google.protobuf.message import Message
from pydantic import BaseModel, ValidationError

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.resources.document import from_spec, to_spec
from cosid.resources.typed import Admission, TypedApi
from cosid.resources.validation import field_violations
from cosid.server.errors import StatusError
from cosid.server.limits import Limits
from cosid.server.validation import Violations, check_labels
from cosid.state.resource import UNDEFINED_VERSION, Metadata, Phase, Resource
from cosid.state.state import State


@dataclass(frozen=True, slots=True)
class Item:
    """One validated item of an Apply: what the client wants stored."""

    spec: BaseModel
    id: str
    labels: Mapping[str, str]
    expected_version: int
    """0: any version (or none: create)."""


@dataclass(frozen=True, slots=True)
class Planned:
    """What Apply does with an item: `resource` is written unless the action is UNCHANGED
    (its version is the stored one, or undefined for a create)."""

    resource: Resource
    action: common_pb2.Action.ValueType
    diff: str

    def change(self) -> common_pb2.Change:
        return common_pb2.Change(id=self.resource.metadata.id, action=self.action, diff=self.diff)


def validate_items(
    api: TypedApi,
    items: Sequence[Message],
    limits: Limits,
    admission: Admission[Any] | None = None,
) -> list[Item]:
    """Every item checked, by its model and then by the configuration's `admission`;
    InvalidArgumentError names every bad field of every item."""
    violations = Violations()
    violations.count("items", len(items), limits.max_batch_items)
    if not items:
        violations.add("items", "must not be empty")
    valid: list[Item] = []
    first_of: dict[str, int] = {}
    for index, message in enumerate(items):
        field = f"items[{index}]"
        meta: common_pb2.ObjectMeta = message.metadata  # type: ignore[attr-defined]
        check_labels(violations, f"{field}.metadata.labels", meta.labels, limits)
        if not message.HasField("spec"):
            violations.add(f"{field}.spec", "is required")
            continue
        try:
            spec = api.spec_from_message(message.spec)  # type: ignore[attr-defined]
        except ValidationError as error:
            violations.items.extend(field_violations(error, f"{field}.spec"))
            continue
        if admission is not None:
            violations.items.extend(admission.violations(spec, f"{field}.spec"))
        id: str = spec.id  # type: ignore[attr-defined]
        if meta.id and meta.id != id:
            violations.add(f"{field}.metadata.id", f"is {meta.id!r}, but the spec names {id!r}")
        elif id in first_of:
            violations.add(f"{field}.metadata.id", f"{id!r} is also items[{first_of[id]}]")
        first_of.setdefault(id, index)
        valid.append(Item(spec, id, dict(meta.labels), meta.version))
    violations.raise_if_any()
    return valid


async def plan(api: TypedApi, state: State, items: Sequence[Item], *, diffs: bool) -> list[Planned]:
    """What applying `items` changes, with `diffs` (what a dry run is for) or without;
    refuses the whole batch (ABORTED) when an item's expected version is not the stored one,
    and (FAILED_PRECONDITION) when a spec is being deleted."""
    return [await _plan_item(api, state, item, diffs) for item in items]


async def _plan_item(api: TypedApi, state: State, item: Item, diffs: bool) -> Planned:
    pointer = api.specs.namespace, api.specs.type, item.id
    wanted = Resource(Metadata(*pointer, labels=item.labels), to_spec(item.spec))
    stored = await state.find(wanted.pointer)
    stored_version = UNDEFINED_VERSION if stored is None else stored.version
    if item.expected_version not in (UNDEFINED_VERSION, stored_version):
        found = "it does not exist" if stored is None else f"it is at version {stored_version}"
        raise StatusError(
            grpc.StatusCode.ABORTED,
            f"{api.name} {item.id}: expected version {item.expected_version}, but {found}",
        )
    if stored is None:
        diff = _diff(item.id, None, wanted, api) if diffs else ""
        return Planned(wanted, common_pb2.ACTION_CREATE, diff)
    if stored.metadata.phase != Phase.RUNNING:
        raise StatusError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"{api.name} {item.id} is being deleted; apply it again once it is gone",
        )
    update = Resource(stored.with_metadata(labels=item.labels).metadata, wanted.spec)
    same_spec = from_spec(api.spec_model, stored.spec) == item.spec
    if same_spec and dict(stored.metadata.labels) == dict(item.labels):
        return Planned(stored, common_pb2.ACTION_UNCHANGED, "")
    diff = _diff(item.id, stored, update, api) if diffs else ""
    return Planned(update, common_pb2.ACTION_UPDATE, diff)


def _diff(id: str, before: Resource | None, after: Resource, api: TypedApi) -> str:
    """A unified diff of the documents (labels and spec) a person would compare."""
    old = [] if before is None else _document(before, api).splitlines(keepends=True)
    new = _document(after, api).splitlines(keepends=True)
    name = f"{api.name.lower()}/{id}"
    return "".join(difflib.unified_diff(old, new, f"{name} (stored)", f"{name} (applied)"))


def _document(resource: Resource, api: TypedApi) -> str:
    spec = from_spec(api.spec_model, resource.spec).model_dump(mode="json")
    labels = dict(resource.metadata.labels)
    document = {"labels": labels, "spec": spec} if labels else {"spec": spec}
    return yaml.dump(document, Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True)


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line text as a literal block, so a diff shows changed lines as lines (an MOTD),
    not as one quoted string full of escapes."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ReadableDumper.add_representer(str, _represent_text)
