"""A fresh named network namespace for the network benchmark, worked in with ip(8) from outside
(`ip -n NAME`): made with `ip netns add`, given a veth pair, read back with `ip -j`, and always
deleted. It is also the status quo cosid is compared to: the same lines as one `ip -batch`, or
one `ip` process per line."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

IP_TIMEOUT = 120.0
"""Longest one ip(8) run may take: a batch of 10,000 lines included."""


@dataclass(frozen=True)
class NamedNetns:
    name: str

    def ip(self, *arguments: str, lines: Sequence[str] = ()) -> str:
        """ip(8) in the namespace; `lines` go to its standard input (for `-batch -`)."""
        return subprocess.run(
            ["ip", "-n", self.name, *arguments],
            input="".join(f"{line}\n" for line in lines),
            check=True,
            capture_output=True,
            text=True,
            timeout=IP_TIMEOUT,
        ).stdout

    def add_veth(self, name: str, peer: str) -> None:
        """A veth pair with both ends up, so it has a carrier and routes through it are live."""
        self.ip("link", "add", name, "type", "veth", "peer", "name", peer)
        self.ip("link", "set", name, "up")
        self.ip("link", "set", peer, "up")

    def ipv4_addresses(self, link: str) -> set[str]:
        """The link's IPv4 addresses as `address/prefix`, from `ip -j addr`."""
        shown = json.loads(self.ip("-j", "-4", "addr", "show", "dev", link))  # [] if none
        return {f"{info['local']}/{info['prefixlen']}" for a in shown for info in a["addr_info"]}

    def ipv4_routes(self) -> set[str]:
        """The destinations of the main table's IPv4 routes, from `ip -j route`."""
        return {route["dst"] for route in json.loads(self.ip("-j", "-4", "route", "show"))}

    def batch(self, lines: Sequence[str]) -> float:
        """Seconds one `ip -batch -` takes to run `lines`."""
        started = time.perf_counter()
        self.ip("-batch", "-", lines=lines)
        return time.perf_counter() - started

    def processes(self, lines: Sequence[str]) -> float:
        """Seconds one `ip` process per line takes, one after the other, as a script runs
        them."""
        started = time.perf_counter()
        for line in lines:
            self.ip(*line.split())
        return time.perf_counter() - started


@contextmanager
def named_netns() -> Iterator[NamedNetns]:
    """A new network namespace for the block's duration (/run/netns/cosid-bench-...)."""
    netns = NamedNetns(f"cosid-bench-{uuid.uuid4().hex[:8]}")
    subprocess.run(["ip", "netns", "add", netns.name], check=True, timeout=IP_TIMEOUT)
    try:
        yield netns
    finally:
        subprocess.run(["ip", "netns", "del", netns.name], check=True, timeout=IP_TIMEOUT)
