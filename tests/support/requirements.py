"""What a test needs of the machine, said once: root for namespaces, and the witness tools."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable


def namespaces_unavailable(kind: str, tools: Iterable[str]) -> str | None:
    """Why `kind` namespaces cannot be made and checked here, or None if they can."""
    if os.geteuid() != 0:
        return f"creating {kind} namespaces needs root"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"the {tool} tool is not installed"
    return None
