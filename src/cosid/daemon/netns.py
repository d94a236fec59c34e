"""`cosid --netns NAME`: the daemon manages a named network namespace instead of the host's.

Named network namespaces are files under /run/netns (what `ip netns add NAME` makes, and what
`ip netns exec` enters). Entered first thing in `main`, while the process still has one
thread, so every thread started later (asyncio, gRPC, the drivers') is in it: per-namespace
sysctls (/proc/sys/net) and, later, links, addresses and routes over netlink are the
namespace's. Only the network namespace changes: files (and /sys, which `ip netns exec`
remounts) stay the host's, so keep `root` apart when they must be too.

A setns(2) call; no `ip` program.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from cosid.drivers import libc

NETNS_DIRECTORY: Final = Path("/run/netns")
CLONE_NEWNET: Final = 0x40000000


class NetnsError(Exception):
    """The namespace cannot be entered; the message says which and why."""


def enter_network_namespace(name: str, directory: Path = NETNS_DIRECTORY) -> None:
    path = directory / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NetnsError(
            f"network namespace {name!r} does not exist ({path}; `ip netns add {name}` makes it)"
        ) from None
    except OSError as error:
        raise NetnsError(f"cannot open network namespace {name!r} ({path}): {error}") from None
    try:
        libc.setns(fd, CLONE_NEWNET)
    except OSError as error:
        raise NetnsError(f"cannot enter network namespace {name!r}: {error}") from None
    finally:
        os.close(fd)
