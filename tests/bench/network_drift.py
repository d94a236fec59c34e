"""How fast cosid puts back an address deleted behind its back: `ip addr del` in the namespace,
and the time from the kernel's RTM_DELADDR to its RTM_NEWADDR for that address.

Both moments are when this process receives the kernel's notices on an rtnetlink socket of its
own, bound to RTMGRP_IPV4_IFADDR inside the namespace (a socket stays in the namespace it was
made in, so one short-lived thread enters the namespace to make it): no polling, and process
start-up of `ip` is not counted. The socket is read while `ip` runs, so neither notice waits.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator

from pyroute2.netlink import NETLINK_ROUTE
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_NEWADDR, RTMGRP_IPV4_IFADDR

from cosid.drivers import libc
from tests.bench.netns_ip import IP_TIMEOUT, NamedNetns

CLONE_NEWNET = 0x40000000
IFA_LOCAL = 2
REPAIR_TIMEOUT = 10.0
"""An address not back this long after its delete fails the benchmark."""
SETTLE_SECONDS = 0.05
"""Pause after each repair, so each try starts with the daemon idle."""
_HEADER = struct.Struct("=IHHII")  # nlmsghdr
_ADDRESS = struct.Struct("=BBBBI")  # ifaddrmsg
_ATTRIBUTE = struct.Struct("=HH")  # rtattr


def _align(length: int) -> int:
    return (length + 3) & ~3


def address_socket(netns: NamedNetns) -> socket.socket:
    """A non-blocking rtnetlink socket in `netns`, subscribed to its IPv4 address changes."""
    made: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            descriptor = os.open(f"/run/netns/{netns.name}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                libc.setns(descriptor, CLONE_NEWNET)  # this thread only; it ends next
            finally:
                os.close(descriptor)
            notices = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, NETLINK_ROUTE
            )
            try:
                notices.bind((0, RTMGRP_IPV4_IFADDR))
            except BaseException:
                notices.close()
                raise
            made.append(notices)
        except BaseException as error:  # handed to the caller's thread
            made.append(error)

    thread = threading.Thread(target=make, name=f"enter-{netns.name}")
    thread.start()
    thread.join()
    result = made[-1]
    if isinstance(result, BaseException):
        raise result
    return result


def address_changes(data: bytes) -> Iterator[tuple[bool, str]]:
    """(added, `address/prefix`) of each IPv4 address notice in one read of the socket."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
        end = offset + length
        if kind in (RTM_NEWADDR, RTM_DELADDR):
            _, prefix, _, _, _ = _ADDRESS.unpack_from(data, offset + _HEADER.size)
            at = offset + _HEADER.size + _ADDRESS.size
            while at + _ATTRIBUTE.size <= end:
                size, attribute = _ATTRIBUTE.unpack_from(data, at)
                if attribute == IFA_LOCAL:
                    local = ipaddress.IPv4Address(data[at + _ATTRIBUTE.size : at + size])
                    yield kind == RTM_NEWADDR, f"{local}/{prefix}"
                at += _align(max(size, _ATTRIBUTE.size))
        offset += _align(max(length, _HEADER.size))


async def _deleted_and_back(
    notices: socket.socket, netns: NamedNetns, address: str, link: str
) -> int:
    """Nanoseconds from the address's delete notice to its add notice, after one
    `ip addr del`."""
    loop = asyncio.get_running_loop()
    deleter = await asyncio.create_subprocess_exec(
        "ip", "-n", netns.name, "addr", "del", address, "dev", link
    )
    deleted_at: int | None = None
    try:
        async with asyncio.timeout(REPAIR_TIMEOUT):
            while True:
                data = await loop.sock_recv(notices, 1 << 16)
                now = time.perf_counter_ns()
                for added, changed in address_changes(data):
                    if changed != address:
                        continue
                    if not added:
                        deleted_at = now
                    elif deleted_at is not None:
                        if await asyncio.wait_for(deleter.wait(), IP_TIMEOUT):
                            raise RuntimeError(f"ip addr del {address} exited with an error")
                        return now - deleted_at
    except TimeoutError:
        seen = "deleted" if deleted_at is None else "back"
        raise RuntimeError(f"{address}: not {seen} within {REPAIR_TIMEOUT:g} s") from None


async def repair_latencies(netns: NamedNetns, address: str, link: str, tries: int) -> list[int]:
    """`tries` repairs of `address` on `link`, in nanoseconds, sorted. The address must be a
    spec of cosid's, present."""
    latencies = []
    with address_socket(netns) as notices:
        for _ in range(tries):
            latencies.append(await _deleted_and_back(notices, netns, address, link))
            await asyncio.sleep(SETTLE_SECONDS)
    if address not in netns.ipv4_addresses(link):
        raise RuntimeError(f"{address} is not on {link} after the repairs")
    return sorted(latencies)
