"""What every driver's errors share: what failed, why, the errno, and a stable reason word."""

from __future__ import annotations

import errno as errnos
from typing import ClassVar


class DriverError(Exception):
    """Base of every driver's errors. `reason` is a stable CamelCase word for status
    conditions; `subject` names what was being read or written (a key, a node path)."""

    reason: ClassVar[str] = "Failed"

    def __init__(self, subject: str, detail: str, errno: int | None = None) -> None:
        super().__init__(f"{subject}: {detail}")
        self.subject = subject
        self.detail = detail
        self.errno = errno


def describe_os_error(error: OSError) -> str:
    """The error's name and text without the path (paths under the root prefix stay ours)."""
    name = errnos.errorcode.get(error.errno or 0, "error")
    return f"{name} ({error.strerror})" if error.strerror else name
