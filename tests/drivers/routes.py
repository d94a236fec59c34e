"""What the kernel shows of a network namespace's routes, read with ``ip -j route`` inside it:
the independent witness of the routes' tests, keyed like cosid's route ids."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

Run = Callable[..., str]
"""Runs a command in the namespace and returns its output."""


def ip_routes(run: Run) -> dict[str, dict[str, Any]]:
    """Every route of every table, both families, by ``<table>/<destination>/<metric>``."""
    routes = {}
    for family, default in (("-4", "0.0.0.0/0"), ("-6", "::/0")):
        for route in json.loads(run("ip", "-j", family, "route", "show", "table", "all")):
            destination = default if route["dst"] == "default" else route["dst"]
            network = ipaddress.ip_network(destination).with_prefixlen
            routes[f"{route.get('table', 'main')}/{network}/{route.get('metric', 0)}"] = route
    return routes
