"""Models as COSI specs: the YAML text every COSI client can read (talosctl and grpcurl too).

The runtime reads and writes a spec, status or condition for every step of every item, so
both directions are fast paths. Writing emits the model as JSON (pydantic's serializer, some
thirty times faster than PyYAML's representer): JSON is YAML's flow form, read by every YAML
parser, and people see specs through cosictl, which prints them as block YAML. Reading takes
any YAML a client wrote (libyaml, PyYAML's C binding), and a spec read again is parsed once:
resources are immutable and models frozen, so a parsed model can be shared.
"""

from __future__ import annotations

import functools
import json
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

from cosid.state.resource import Spec

Model = TypeVar("Model", bound=BaseModel)

PARSED_CACHE_SIZE = 8192
"""Parsed specs kept: a few per resource cosid is working on; the least recently used go."""
CACHED_TEXT_BYTES = 4096
"""Longer texts (a large MOTD) are parsed each time: the cache stays small."""


def to_spec(model: BaseModel) -> Spec:
    return Spec(yaml=model.model_dump_json())


def from_spec(model_type: type[Model], spec: Spec) -> Model:
    """The model a stored spec holds; pydantic's ValidationError if it does not (and
    yaml.YAMLError if the text is not YAML)."""
    parse = _parsed if len(spec.yaml) <= CACHED_TEXT_BYTES else _parse
    model: Model = parse(model_type, spec.yaml)
    return model


def _parse(model_type: type[BaseModel], text: str) -> Any:
    return model_type.model_validate(_load(text) or {})


def _load(text: str) -> Any:
    """JSON (what cosid writes) the fast way; any other YAML with libyaml."""
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # YAML's flow style that is not JSON (`{key: value}`)
    return yaml.load(text, Loader=yaml.CSafeLoader)


_parsed = functools.lru_cache(maxsize=PARSED_CACHE_SIZE)(_parse)
