"""Which namespaces and types exist: the data behind the `meta` namespace.

A namespace is either closed (only its defined types may be stored) or open (any type is
stored opaquely, which is how out-of-process plugins coordinate through cosid). Durability is
per namespace: specs must survive a restart, observed status is rebuilt from the kernel.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from cosid.state.errors import UnknownNamespaceError, UnknownTypeError
from cosid.state.resource import Kind

META_NAMESPACE = "meta"
META_OWNER = "meta"

_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9-]+$")
_TYPE_SUFFIX = re.compile(r"^[a-z][a-z0-9-]+(\.[a-z][a-z0-9-]+)*$")


@dataclass(frozen=True, slots=True)
class NamespaceDefinition:
    name: str
    description: str
    durable: bool = False
    open: bool = False


@dataclass(frozen=True, slots=True)
class PrintColumn:
    name: str
    json_path: str


SpecModel = type[BaseModel]
"""The pydantic model of a spec (defined here, before a field named `type` shadows the builtin)."""


@dataclass(frozen=True, slots=True)
class ResourceDefinition:
    """A built-in type, e.g. "Namespaces.meta.cosi.dev": a plural CamelCase name and a suffix."""

    type: str
    default_namespace: str
    aliases: tuple[str, ...] = ()
    print_columns: tuple[PrintColumn, ...] = ()
    sensitive: bool = False
    spec_model: SpecModel | None = None
    """Validates the YAML spec clients write (built-in spec types); None: not validated."""
    writable: bool = True
    """False for what only cosid writes (meta, statuses, conditions): clients may only read."""
    display_type: str = field(init=False)
    all_aliases: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        name, _, suffix = self.type.partition(".")
        if not _TYPE_NAME.match(name) or not name.endswith("s") or name.lower() == name:
            raise ValueError(f"type {self.type!r}: name must be plural CamelCase")
        if not _TYPE_SUFFIX.match(suffix):
            raise ValueError(f"type {self.type!r}: suffix must be a lowercase domain")
        display_type = _singular(name)
        aliases = [*self.aliases, display_type.lower()]
        initials = "".join(c for c in name if c.isupper()).lower()
        if len(initials) > 1:
            aliases.append(initials)
            if not initials.endswith("s"):
                aliases.append(initials + "s")
        parts = suffix.split(".")
        all_aliases = [name.lower()]
        all_aliases += [".".join([name.lower(), *parts[:i]]) for i in range(1, len(parts))]
        object.__setattr__(self, "display_type", display_type)
        object.__setattr__(self, "aliases", tuple(aliases))
        object.__setattr__(self, "all_aliases", (*all_aliases, *aliases))

    def without_aliases(self, names: frozenset[str]) -> ResourceDefinition:
        """A copy that no longer answers to `names` (short names another type also claims)."""
        copy = dataclasses.replace(self)
        object.__setattr__(copy, "aliases", tuple(a for a in self.aliases if a not in names))
        object.__setattr__(
            copy, "all_aliases", tuple(a for a in self.all_aliases if a not in names)
        )
        return copy

    @property
    def id(self) -> str:
        """Resource definitions are stored under their lowercased type."""
        return self.type.lower()


def _singular(plural: str) -> str:
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    if plural.endswith(("sses", "xes", "uses")):
        return plural[:-2]
    return plural[:-1]


NAMESPACES_TYPE = "Namespaces.meta.cosi.dev"
RESOURCE_DEFINITIONS_TYPE = "ResourceDefinitions.meta.cosi.dev"

META_NAMESPACE_DEFINITION = NamespaceDefinition(
    META_NAMESPACE, "Metadata namespace which contains resource and namespace definitions."
)
META_TYPES = (
    ResourceDefinition(NAMESPACES_TYPE, META_NAMESPACE, aliases=("ns",), writable=False),
    ResourceDefinition(
        RESOURCE_DEFINITIONS_TYPE,
        META_NAMESPACE,
        aliases=("api-resources",),
        print_columns=(PrintColumn("Aliases", "{.aliases[:]}"),),
        writable=False,
    ),
)


def _unambiguous(definitions: Sequence[ResourceDefinition]) -> list[ResourceDefinition]:
    """The definitions without the short names two of them derive alike (SysctlSpecs and
    SysctlStatuses both make "ss"): such a name would pick one of them at random."""
    claims = Counter(name for d in definitions for name in set(d.all_aliases))
    shared = frozenset(name for name, count in claims.items() if count > 1)
    return [d.without_aliases(shared) if shared & set(d.all_aliases) else d for d in definitions]


class Registry:
    def __init__(
        self,
        namespaces: Iterable[NamespaceDefinition],
        definitions: Iterable[ResourceDefinition] = (),
    ) -> None:
        namespaces = list(namespaces)
        names = [ns.name for ns in (META_NAMESPACE_DEFINITION, *namespaces)]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"namespaces defined twice (some are built in): {duplicates}")
        self.namespaces = {ns.name: ns for ns in (META_NAMESPACE_DEFINITION, *namespaces)}
        self.definitions = {d.type: d for d in _unambiguous((*META_TYPES, *definitions))}
        for definition in self.definitions.values():
            if definition.default_namespace not in self.namespaces:
                raise ValueError(
                    f"type {definition.type!r}: namespace {definition.default_namespace!r} "
                    "is not defined",
                )

    @property
    def durable_namespaces(self) -> frozenset[str]:
        return frozenset(ns.name for ns in self.namespaces.values() if ns.durable)

    def namespace(self, name: str) -> NamespaceDefinition:
        try:
            return self.namespaces[name]
        except KeyError:
            raise UnknownNamespaceError(name) from None

    def check(self, kind: Kind) -> ResourceDefinition | None:
        """Raise unless `kind` may be stored: a defined type, or any type in an open namespace.

        Returns the type's definition (None for an opaque type of an open namespace).
        """
        namespace = self.namespace(kind.namespace)
        definition = self.definitions.get(kind.type)
        if definition is not None and definition.default_namespace == kind.namespace:
            return definition
        if namespace.open:
            return None
        raise UnknownTypeError(kind)
