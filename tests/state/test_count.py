"""Store.count, what quotas check before a write: per type and per namespace, and exact within a
turn of the event loop (staged creations and destructions counted before they commit)."""

from __future__ import annotations

import asyncio

from cosid.state.store import Store
from tests.state.conftest import EPHEMERAL_NS, KIND, NS, TYPE, make_resource, ptr, resource_ids

OTHER_TYPE = "Others.test.cosi.dev"


async def test_counts_a_type_and_a_whole_namespace(store: Store) -> None:
    assert store.count(NS, TYPE) == 0
    assert store.count(NS) == 0
    for id in ("a", "b"):
        await store.create(make_resource(id))
    await store.create(make_resource("c", type=OTHER_TYPE))
    await store.create(make_resource("d", ns=EPHEMERAL_NS))

    assert store.count(NS, TYPE) == 2
    assert store.count(NS, OTHER_TYPE) == 1
    assert store.count(NS) == 3
    assert store.count(EPHEMERAL_NS) == 1
    assert store.count(NS, "Unknowns.test.cosi.dev") == 0


async def test_writes_staged_in_this_turn_are_counted(store: Store, backend: str) -> None:
    await store.create(make_resource("kept"))
    await store.create(make_resource("going"))
    writes = [
        asyncio.ensure_future(store.create(make_resource("new1"))),
        asyncio.ensure_future(store.create(make_resource("new2"))),
        asyncio.ensure_future(store.destroy(ptr("going"))),
    ]
    await asyncio.sleep(0)  # each has run up to its commit

    visible = resource_ids(await store.list(KIND))
    assert visible == (["going", "kept"] if backend == "sqlite" else ["kept", "new1", "new2"])
    assert store.count(NS, TYPE) == 3, "kept, new1 and new2, staged or not"
    assert store.count(NS) == 3
    await asyncio.gather(*writes)
    assert store.count(NS, TYPE) == 3
