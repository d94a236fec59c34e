"""Size and count limits checked at the edge, so no request can make the daemon store or hold
too much."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

_METADATA_OVERHEAD_BYTES = 64 * 1024
"""Ids, names, versions, timestamps and framing around a resource's variable parts."""


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_message_bytes: int = Field(4 * 1024 * 1024, gt=0)
    """Largest gRPC message accepted (and sent)."""
    max_name_length: int = Field(253, gt=0)
    """Namespaces, types, owners, finalizers and label keys."""
    max_id_length: int = Field(1024, gt=0)
    max_spec_bytes: int = Field(1024 * 1024, gt=0)
    """proto_spec and yaml_spec together."""
    max_labels: int = Field(64, ge=0)
    max_label_value_length: int = Field(1024, ge=0)
    max_annotations: int = Field(64, ge=0)
    max_annotation_bytes: int = Field(256 * 1024, ge=0)
    """All annotation keys and values of one resource together."""
    max_finalizers: int = Field(64, ge=0)
    max_label_terms: int = Field(64, ge=0)
    """Terms over all label queries of one List or Watch."""
    max_batch_items: int = Field(10_000, gt=0)
    """Items of one typed Apply (all validated, then stored in one transaction)."""
    resources_per_type: int = Field(10_000, gt=0)
    """Resources of one type in one namespace past which clients may create no more (State
    Create, typed Apply); what cosid writes itself (statuses, conditions, originals) is never
    refused."""
    resources_per_namespace: int = Field(100_000, gt=0)
    """The same over every type of one open namespace, where clients may invent types."""
    watchers_total: int = Field(1000, gt=0)
    """Watch streams open at once (State and typed), over every listener."""
    watchers_per_connection: int = Field(100, gt=0)
    """Watch streams open at once per client connection as gRPC tells them apart (its peer
    address); every client of a unix socket has the same peer, so there it is per socket."""

    @property
    def max_resource_bytes(self) -> int:
        """The most one stored resource can take on the wire."""
        labels = self.max_labels * (self.max_name_length + self.max_label_value_length)
        finalizers = self.max_finalizers * self.max_name_length
        return (
            self.max_spec_bytes
            + self.max_annotation_bytes
            + labels
            + finalizers
            + _METADATA_OVERHEAD_BYTES
        )

    @model_validator(mode="after")
    def _events_fit_in_a_message(self) -> Self:
        """An UPDATED event carries two resources; it must fit in one message, or a watch of
        a large resource would end instead of delivering it."""
        needed = 2 * self.max_resource_bytes
        if self.max_message_bytes < needed:
            raise ValueError(
                f"max_message_bytes ({self.max_message_bytes}) must be at least {needed}: "
                "twice the largest resource the other limits allow",
            )
        return self
