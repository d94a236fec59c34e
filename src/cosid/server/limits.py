"""Size limits checked at the edge, so no request can make the daemon store or hold too much."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
