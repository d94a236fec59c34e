"""The kernel modules domain's resources: a module a client wants loaded (spec) and what the
kernel has (status).

Names
-----
A spec names a module the way modprobe(8) takes one: the module's own name (``bonding``,
``8021q``), or an alias from modules.alias (``rtnl-link-vlan``). A name is 1 to 55 characters
(``MODULE_NAME_LEN - 1`` on 64-bit kernels) of ``A-Z a-z 0-9 _ -``; nothing else, so no ``/``,
``.`` or ``..``, and it can never name a path. The kernel and modprobe treat ``-`` and ``_`` in
module names as the same character, so the model holds the name with every ``-`` written
``_`` (`parse_name`): that canonical form is also the resource id (``amd-uncore`` and
``amd_uncore`` are one spec).

Parameters
----------
``parameters`` maps parameter names to values, passed to the kernel when cosid loads the
module (``max_bonds=2 mode=active-backup``). Names are 1 to 64 characters of
``A-Z a-z 0-9 _``. Values are 1 to 1024 characters (the kernel's limit for string parameters)
of printable ASCII without spaces and without ``"`` (the kernel's quoting character): no
whitespace, no line break, no NUL, no quoting, so one value can never turn into two
parameters. At most 64 parameters. YAML numbers are taken as text (``max_bonds: 2``), and
booleans as the kernel writes them (``true`` is ``Y``, ``false`` is ``N``).

Parameters apply when cosid loads the module. A module that is already loaded, or built in,
keeps the values it has: cosid never reloads a module to change them (that would tear down
whatever uses it). The status shows the values the kernel reports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    StrictBool,
)

from cosid.api.cosi.modules.v1alpha1 import modules_pb2
from cosid.resources import namespaces
from cosid.resources.typed import TypedApi
from cosid.state.registry import ResourceDefinition
from cosid.state.resource import Kind

MODULE_SPEC_TYPE: Final = "KernelModuleSpecs.modules.cosi.dev"
"""COSI type of the specs: a module a client wants loaded. The resource id is the name."""
MODULE_STATUS_TYPE: Final = "KernelModuleStatuses.modules.cosi.dev"
"""COSI type of the statuses: what the kernel has for a spec's module. Id: the spec's name."""
MODULE_ORIGINAL_TYPE: Final = "KernelModuleOriginals.modules.cosi.dev"
"""COSI type of whether a module was loaded before cosid loaded it (durable: a restart must not
forget which modules deleting a spec unloads). The resource id is the module's name."""

SPECS: Final = Kind(namespaces.MODULES.name, MODULE_SPEC_TYPE)
STATUSES: Final = Kind(namespaces.RUNTIME.name, MODULE_STATUS_TYPE)
ORIGINALS: Final = Kind(namespaces.MODULES.name, MODULE_ORIGINAL_TYPE)

CONTROLLER: Final = "modules"
"""The controller that makes the specs true (and writes statuses and originals)."""

MAX_NAME_LENGTH: Final = 55
"""MODULE_NAME_LEN (64 - sizeof(unsigned long)) less the terminating NUL, on 64-bit kernels."""
MAX_PARAMETER_NAME_LENGTH: Final = 64
MAX_PARAMETER_VALUE_LENGTH: Final = 1024
"""The kernel refuses longer string parameters (ENOSPC)."""
MAX_PARAMETERS: Final = 64

_NAME: Final = re.compile(r"[A-Za-z0-9_-]+\Z")
_PARAMETER_NAME: Final = re.compile(r"[A-Za-z0-9_]+\Z")
_PARAMETER_VALUE: Final = re.compile(r"[!#-~]*\Z")
"""Printable ASCII less the space and the double quote."""

ModuleState = Literal["live", "loading", "unloading", "builtin", "absent"]
"""Where a module stands: loaded (``live``), on its way in or out (``loading``, ``unloading``,
as /proc/modules says), part of the kernel image (``builtin``), or not there (``absent``)."""
PRESENT_STATES: Final = frozenset({"live", "loading", "builtin"})
"""States in which the kernel has the module (a module still loading needs no second load)."""


def normalise(name: str) -> str:
    """A module name with every ``-`` written ``_``, as the kernel compares them."""
    return name.replace("-", "_")


def parse_name(text: str) -> str:
    """The canonical form of a module name or alias; ValueError says what is wrong (the
    message completes "the name ...")."""
    if not text:
        raise ValueError("must not be empty")
    if len(text) > MAX_NAME_LENGTH:
        raise ValueError(f"is {len(text)} characters long, the limit is {MAX_NAME_LENGTH}")
    if "/" in text:
        raise ValueError("must not contain '/': it names a module, not a file")
    if not _NAME.match(text):
        raise ValueError("may only contain letters, digits, '_' and '-'")
    return normalise(text)


def _parameter_text(value: object) -> object:
    """YAML booleans as the kernel writes boolean parameters; numbers are coerced by the model."""
    if isinstance(value, bool):
        return "Y" if value else "N"
    return value


def parse_parameters(parameters: Mapping[str, str]) -> dict[str, str]:
    """The parameters, checked one by one; ValueError names the first bad one."""
    if len(parameters) > MAX_PARAMETERS:
        raise ValueError(f"has {len(parameters)} entries, the limit is {MAX_PARAMETERS}")
    for name, value in parameters.items():
        if not _PARAMETER_NAME.match(name) or len(name) > MAX_PARAMETER_NAME_LENGTH:
            raise ValueError(
                f"has the name {name!r}: parameter names are 1 to {MAX_PARAMETER_NAME_LENGTH} "
                "letters, digits and '_'"
            )
        if len(value) > MAX_PARAMETER_VALUE_LENGTH:
            raise ValueError(
                f"{name}: the value is {len(value)} characters long, "
                f"the limit is {MAX_PARAMETER_VALUE_LENGTH}"
            )
        if not value:
            raise ValueError(f"{name}: the value must not be empty")
        if not _PARAMETER_VALUE.match(value):
            raise ValueError(
                f"{name}: the value {value!r} must be printable ASCII without spaces, "
                "line breaks or '\"'"
            )
    return dict(parameters)


def parameter_string(parameters: Mapping[str, str]) -> str:
    """The kernel's argument string for a load (``name=value`` separated by spaces)."""
    return " ".join(f"{name}={value}" for name, value in parameters.items())


ModuleName = Annotated[str, AfterValidator(parse_name)]
"""A module name or alias, at most 55 characters of letters, digits, '_' and '-', with '-'
written '_'."""

ParameterValue = Annotated[str, BeforeValidator(_parameter_text)]

Parameters = Annotated[dict[str, ParameterValue], AfterValidator(parse_parameters)]
"""Module parameters: bounded names and values that cannot split or quote."""


class KernelModuleSpec(BaseModel):
    """A module a client wants loaded, with the parameters to load it with."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    name: ModuleName
    parameters: Parameters = Field(default_factory=dict)

    @property
    def id(self) -> str:
        """The resource id: the canonical name."""
        return self.name


class KernelModuleStatus(BaseModel):
    """What the kernel has for a spec's module. Conditions (ready, reason, ...) come from the
    runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ModuleName
    """The spec's name (a module or an alias)."""
    module: str | None = None
    """The module the name resolved to (an alias's target); None when it did not resolve."""
    state: ModuleState
    refcount: NonNegativeInt | None = None
    """Users of the loaded module, as the kernel counts them; None unless loaded."""
    holders: tuple[str, ...] = ()
    """Loaded modules that use this one."""
    parameters: dict[str, str] = Field(default_factory=dict)
    """The parameters the kernel shows (the readable files of /sys/module/<name>/parameters)."""
    dependencies: tuple[str, ...] = ()
    """The modules it needs, in the order they load (from modules.dep)."""
    file: str | None = None
    """The module's file, relative to /lib/modules/<release>; None when built in or unknown."""
    loaded_by_cosid: StrictBool = False
    """Whether cosid loaded the module that is loaded now: deleting the spec unloads only such."""

    @property
    def id(self) -> str:
        return self.name


class KernelModuleOriginal(BaseModel):
    """Whether a module was loaded when cosid first needed it (for a spec, or as a dependency):
    cosid unloads only modules it loaded itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ModuleName
    loaded: StrictBool


DEFINITIONS: Final = (
    ResourceDefinition(
        SPECS.type,
        SPECS.namespace,
        aliases=("kernelmodule", "kernelmodules", "module", "modules"),
        spec_model=KernelModuleSpec,
    ),
    ResourceDefinition(STATUSES.type, STATUSES.namespace, writable=False),
    ResourceDefinition(ORIGINALS.type, ORIGINALS.namespace, writable=False),
)

API: Final = TypedApi(
    service=modules_pb2.DESCRIPTOR.services_by_name["KernelModuleService"],
    specs=SPECS,
    statuses=STATUSES,
    spec_model=KernelModuleSpec,
    status_model=KernelModuleStatus,
    controller=CONTROLLER,
)
"""The typed service cosi.modules.v1alpha1.KernelModuleService over these types."""
