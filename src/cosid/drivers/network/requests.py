"""How many requests a driver keeps on the domain's rtnetlink socket at once.

The kernel answers each request at once into the socket's receive buffer (212992 bytes by
default), and the answers wait there until the event loop reads them. 1000 reconciles asking
at once overflow it: the kernel drops answers (ENOBUFS), and every request waiting fails. A
driver takes a slot around each request (never around a call that takes one itself: slots
are not re-entrant), so the answers waiting always fit.
"""

from __future__ import annotations

import asyncio
from typing import Final

IN_FLIGHT: Final = 32
"""Requests of one driver at once: an acknowledgement counts about 1 KiB against the buffer,
a dump's part up to 32 KiB, so the answers of the address and route drivers together fit."""


def request_slots() -> asyncio.Semaphore:
    """A driver's slots (made per driver: a semaphore belongs to the event loop using it)."""
    return asyncio.Semaphore(IN_FLIGHT)
