"""rtnetlink's messages (as pyroute2 parses them) read as cosid's states: a link, an address,
a route. One reading for the kernel's dumps and its change notices alike, and the kernel's
numbers named the way `ip` names them (the names the specs use)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Final

from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NAMES
from pyroute2.netlink.rtnl.ifinfmsg import IFF_NAMES

from cosid.drivers.network.driver import AddressState, LinkState
from cosid.drivers.network.route_driver import RouteState
from cosid.resources.addresses import Family
from cosid.resources.routes import PROTOCOL_NAMES, TABLE_NAMES, RouteKey

FAMILIES: Final[dict[int, Family]] = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}
FOREVER: Final = 0xFFFFFFFF
"""The kernel's lifetime for "forever"."""

LINK_FLAGS: Final = tuple((name.removeprefix("IFF_"), bit) for name, bit in IFF_NAMES.items())

ADDRESS_SCOPES: Final = {0: "global", 253: "link", 254: "host"}
ADDRESS_FLAGS: Final = tuple(
    (name.removeprefix("IFA_F_").lower(), bit)
    for name, bit in IFA_F_NAMES.items()
    if name != "IFA_F_TEMPORARY"  # IFA_F_SECONDARY's bit, named by family
)

ROUTE_TYPES: Final = {
    1: "unicast",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
}
ROUTE_SCOPES: Final = {0: "universe", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
ROUTE_FLAGS: Final = (
    ("dead", 1),
    ("pervasive", 2),
    ("onlink", 4),
    ("offload", 8),
    ("linkdown", 16),
    ("unresolved", 32),
    ("trap", 64),
)


def link_state(message: Any, master: str | None) -> LinkState:
    """An RTM_NEWLINK; `master` is the name of the link its IFLA_MASTER index names."""
    return LinkState(
        name=message.get("ifname"),
        index=message["index"],
        kind=message.get(("linkinfo", "kind")),
        flags=tuple(flag for flag, bit in LINK_FLAGS if message["flags"] & bit),
        oper_state=message.get("operstate") or "UNKNOWN",
        mtu=message.get("mtu"),
        mac=message.get("address"),
        master=master,
    )


def address_cidr(message: Any) -> str:
    """An RTM_NEWADDR's address with its prefix length, canonical (``2001:db8::5/64``)."""
    return ipaddress.ip_interface(f"{message.get('address')}/{message['prefixlen']}").with_prefixlen


def address_state(link: str, message: Any) -> AddressState:
    """An RTM_NEWADDR of the link named `link`."""
    flags: int = message.get("flags") or message["flags"]  # IFA_FLAGS, else the header's
    cacheinfo = message.get("cacheinfo") or {}
    return AddressState(
        link=link,
        address=address_cidr(message),
        family=FAMILIES[message["family"]],
        scope=ADDRESS_SCOPES.get(message["scope"], str(message["scope"])),
        flags=tuple(sorted(name for name, bit in ADDRESS_FLAGS if flags & bit)),
        valid_lifetime=_lifetime(cacheinfo.get("ifa_valid")),
        preferred_lifetime=_lifetime(cacheinfo.get("ifa_preferred")),
    )


def is_route(message: Any) -> bool:
    """Whether an rtmsg is a route cosid keeps: IPv4 or IPv6 (not the multicast routing or
    MPLS families a dump brings too), without a TOS (which no spec has: its key would be
    another route's)."""
    return message["family"] in FAMILIES and not message["tos"]


def route_key(message: Any) -> RouteKey:
    """An RTM_NEWROUTE's (or RTM_DELROUTE's) key."""
    unspecified = "0.0.0.0" if message["family"] == socket.AF_INET else "::"
    destination = ipaddress.ip_network(f"{message.get('dst') or unspecified}/{message['dst_len']}")
    table: int = message.get("table")
    return RouteKey(
        TABLE_NAMES.get(table, str(table)), destination.with_prefixlen, message.get("priority") or 0
    )


def route_state(message: Any, link: str | None) -> RouteState:
    """An RTM_NEWROUTE; `link` is the name of the link its RTA_OIF index names."""
    flags: int = message["flags"]
    hops = message.get("multipath")
    return RouteState(
        key=route_key(message),
        family=FAMILIES[message["family"]],
        type=ROUTE_TYPES.get(message["type"], str(message["type"])),
        protocol=PROTOCOL_NAMES.get(message["proto"], str(message["proto"])),
        scope=ROUTE_SCOPES.get(message["scope"], str(message["scope"])),
        gateway=message.get("gateway"),
        link=link,
        source=message.get("prefsrc"),
        flags=tuple(n for n, bit in ROUTE_FLAGS if flags & bit) + (("multipath",) if hops else ()),
    )


def _lifetime(seconds: int | None) -> int | None:
    return None if seconds is None or seconds == FOREVER else seconds
