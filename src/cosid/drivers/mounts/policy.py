"""Which targets cosid may mount on: the configuration's deny lists (``domains.mounts.deny``,
``deny_below``), checked before anything is changed at a target.

The models cannot see the configuration, so the policy is applied where it can be: at the
edge (`TargetPolicy.violations`, the daemon's admission of mount specs: a denied target is
INVALID_ARGUMENT and nothing is stored), and, in depth, by the driver's `check`: by the
controller before it acts (reason ``DeniedTarget``, for a spec stored under another
configuration), and by the driver's own methods that change anything, so no caller can skip it.
"""

from __future__ import annotations

from collections.abc import Iterable

from cosid.drivers.mounts.driver import MountDeniedError
from cosid.resources.mounts import MountSpec, parse_path
from cosid.resources.validation import FieldViolation


class TargetPolicy:
    """Refuses the targets in `deny` exactly, and those in `deny_below` with everything below
    them. Entries are node paths; a trailing ``/`` is ignored, anything else that is not an
    absolute, normalised path is a ValueError (a configuration error)."""

    def __init__(self, deny: Iterable[str] = (), deny_below: Iterable[str] = ()) -> None:
        self.deny = frozenset(_normalised(path) for path in deny)
        self.deny_below = frozenset(_normalised(path) for path in deny_below)

    def check(self, target: str) -> None:
        """Raise MountDeniedError if `target` (a normalised node path) is denied."""
        if target in self.deny:
            raise MountDeniedError(target, "is denied by the configuration (domains.mounts.deny)")
        for path in self.deny_below:
            if target == path or target.startswith(f"{path.rstrip('/')}/"):
                raise MountDeniedError(
                    target,
                    f"is at or below {path}, which the configuration denies "
                    "(domains.mounts.deny_below)",
                )

    def violations(self, spec: MountSpec) -> list[FieldViolation]:
        """The spec's target as the edge refuses it when denied (`cosid.resources.typed.
        Admission`), so a spec for a denied target is never stored."""
        try:
            self.check(spec.target)
        except MountDeniedError as error:
            return [FieldViolation("target", error.detail)]
        return []


def _normalised(path: str) -> str:
    try:
        return parse_path(path.rstrip("/") or "/")
    except ValueError as error:
        raise ValueError(f"mount deny list entry {path!r} {error}") from None
