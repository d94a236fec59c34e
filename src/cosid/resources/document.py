"""Models as COSI specs: the YAML form every client can read (talosctl and grpcurl included).

Typed services add each domain's protobuf form beside it; the YAML form is what the runtime
and controllers read, so one codec serves every domain.
"""

from __future__ import annotations

from typing import TypeVar

import yaml
from pydantic import BaseModel

from cosid.state.resource import Spec

Model = TypeVar("Model", bound=BaseModel)


def to_spec(model: BaseModel) -> Spec:
    return Spec(yaml=yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False))


def from_spec(model_type: type[Model], spec: Spec) -> Model:
    """The model a stored spec holds; pydantic's ValidationError if it does not."""
    return model_type.model_validate(yaml.safe_load(spec.yaml) or {})
