"""What the kernel shows of a network namespace's links, read with ``ip -j link`` inside it:
the independent witness of the network domain's tests."""

from __future__ import annotations

import json
from typing import Any

from tests.drivers.netns import NetNamespace


def ip_links(namespace: NetNamespace) -> dict[str, dict[str, Any]]:
    """Every link of the namespace by name, as ``ip -j link show`` prints it."""
    links = json.loads(namespace.exec("ip", "-j", "link", "show").stdout)
    return {link["ifname"]: link for link in links}
