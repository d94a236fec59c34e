"""The network domain's netlink drivers, built together: one request socket and one mirror of
the kernel's links, addresses and routes, shared by the three drivers (and the observer)."""

from __future__ import annotations

from cosid.drivers.network.addresses import NetlinkAddressDriver
from cosid.drivers.network.mirror import NetworkMirror
from cosid.drivers.network.netlink import NetlinkLinkDriver
from cosid.drivers.network.requests import RequestSocket
from cosid.drivers.network.routes import NetlinkRouteDriver


class NetlinkNetwork:
    """Opened lazily in the event loop that first uses it (see `requests`); closed there."""

    def __init__(self) -> None:
        self.requests = RequestSocket()
        self.mirror = NetworkMirror(self.requests)
        self.links = NetlinkLinkDriver(self.requests, self.mirror)
        self.addresses = NetlinkAddressDriver(self.requests, self.mirror)
        self.routes = NetlinkRouteDriver(self.requests, self.mirror)

    def close(self) -> None:
        self.mirror.close()
        self.requests.close()
