"""What the network controllers' tests share: one controller under the real runtime and store,
with the netlink drivers, run inside a fresh network namespace (the whole scenario on the
namespace's thread), and waits on its conditions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cosid.drivers.network.netlink_network import NetlinkNetwork
from cosid.runtime.controller import Controller
from cosid.runtime.runtime import Runtime
from cosid.state.resource import Kind
from cosid.state.store import Store
from tests.drivers.netns import NetNamespace
from tests.runtime.conftest import FAST, condition_of

Scenario = Callable[[Store, Runtime], Awaitable[None]]


def run_controller(
    netns: NetNamespace, controller: Callable[[NetlinkNetwork], Controller], scenario: Scenario
) -> None:
    """`scenario` against a runtime with `controller(network)` (no resync: notices only)."""

    async def inside() -> None:
        store = Store()
        network = NetlinkNetwork()
        runtime = Runtime(store, [controller(network)], backoff=FAST)
        runtime.start()
        try:
            await scenario(store, runtime)
        finally:
            await runtime.stop()
            network.close()

    netns.run(inside())


def conditions_say(
    store: Store, controller: str, specs: Kind, **wanted: str
) -> Callable[[], Awaitable[bool]]:
    """A check for `eventually`: the controller's condition of each spec id has its reason."""

    async def check() -> bool:
        for id, why in wanted.items():
            condition = await condition_of(store, controller, id, specs)
            if condition is None or condition.reason != why:
                return False
        return True

    return check


def holds(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """A plain check made one for `eventually`."""

    async def checked() -> bool:
        return check()

    return checked
