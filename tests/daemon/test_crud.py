"""Create, Get, Update, Destroy, Teardown, TeardownAndDestroy and List, over the daemon's socket."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import pytest

from cosid.api.cosi.resource import resource_pb2, state_pb2
from tests.support.daemon import Daemon
from tests.support.wire import (
    DESTROYED,
    NS,
    SCRATCH_NS,
    UPDATED,
    Op,
    changed,
    connect,
    create,
    destroy,
    get,
    ids,
    kind_watch,
    label_query,
    list_resources,
    make_resource,
    status_code,
    summary,
    teardown,
    term,
    update,
    watching,
)

if TYPE_CHECKING:
    from cosid.api.cosi.resource.state_pb2_grpc import StateAsyncStub

StatusCode = grpc.StatusCode


def teardown_and_destroy_request(
    type: str, id: str, owner: str = ""
) -> state_pb2.TeardownAndDestroyRequest:
    return state_pb2.TeardownAndDestroyRequest(
        namespace=NS, type=type, id=id, options=state_pb2.TeardownAndDestroyOptions(owner=owner)
    )


# --- Create and Get ------------------------------------------------------------------------------


@pytest.mark.parametrize("sent_version", ["undefined", "1", "7", "18446744073709551615"])
async def test_create_stores_version_1_whatever_version_was_sent(
    stub: StateAsyncStub, type_name: str, sent_version: str
) -> None:
    stored = await create(stub, make_resource("a", type_name, version=sent_version))

    assert stored.metadata.version == "1"
    assert (await get(stub, type_name, "a")).metadata.version == "1"


async def test_create_stores_the_options_owner_not_the_metadata_owner(
    stub: StateAsyncStub, type_name: str
) -> None:
    stored = await create(stub, make_resource("a", type_name, owner="intruder"), owner="ctl")
    unowned = await create(stub, make_resource("b", type_name, owner="intruder"))

    assert stored.metadata.owner == "ctl"
    assert (await get(stub, type_name, "a")).metadata.owner == "ctl"
    assert unowned.metadata.owner == ""
    assert (await get(stub, type_name, "b")).metadata.owner == ""


async def test_spec_bytes_and_yaml_are_echoed_back_unchanged(
    stub: StateAsyncStub, type_name: str
) -> None:
    proto_spec = bytes(range(256)) + b"\x00\x00\xff"
    yaml_spec = "key: välue\nlist: [1, 2]\nmulti: |\n  line\n\ttab \u2603\n"
    sent = make_resource("a", type_name, proto_spec=proto_spec, yaml_spec=yaml_spec)

    stored = await create(stub, sent)

    for echoed in (stored, await get(stub, type_name, "a"), *await list_resources(stub, type_name)):
        assert echoed.spec.proto_spec == proto_spec
        assert echoed.spec.yaml_spec == yaml_spec


async def test_metadata_round_trips_whole(stub: StateAsyncStub, type_name: str) -> None:
    sent = make_resource(
        "a",
        type_name,
        phase="tearingDown",
        labels={"app": "web", "empty": "", "k8s.io/name": "x y"},
        annotations={"note": "ünïcode", "multi": "line\nbreak"},
        finalizers=["z-first", "a-second", "m/third"],
    )

    stored = await create(stub, sent, owner="ctl")

    metadata = stored.metadata
    assert (metadata.namespace, metadata.type, metadata.id) == (NS, type_name, "a")
    assert (metadata.version, metadata.owner, metadata.phase) == ("1", "ctl", "tearingDown")
    assert dict(metadata.labels) == {"app": "web", "empty": "", "k8s.io/name": "x y"}
    assert dict(metadata.annotations) == {"note": "ünïcode", "multi": "line\nbreak"}
    assert list(metadata.finalizers) == ["z-first", "a-second", "m/third"]
    assert metadata.HasField("created")
    assert metadata.HasField("updated")
    assert await get(stub, type_name, "a") == stored
    assert await list_resources(stub, type_name) == [stored]


async def test_ids_may_contain_slashes(stub: StateAsyncStub, type_name: str) -> None:
    for id in ("a", "a/b", "a/b/c", "/leading", "trailing/"):
        await create(stub, make_resource(id, type_name, labels={"id": id.replace("/", "_")}))

    assert (await get(stub, type_name, "a/b")).metadata.labels == {"id": "a_b"}
    assert (await get(stub, type_name, "/leading")).metadata.id == "/leading"
    await destroy(stub, type_name, "a/b")
    assert ids(await list_resources(stub, type_name)) == ["/leading", "a", "a/b/c", "trailing/"]
    assert await status_code(get(stub, type_name, "a/b")) == StatusCode.NOT_FOUND


async def test_open_namespaces_store_any_type_keyed_by_namespace_type_and_id(
    stub: StateAsyncStub, type_name: str
) -> None:
    odd_type = f"lower-case/with spaces/{type_name}"
    await create(stub, make_resource("a", type_name, labels={"where": "default"}))
    await create(stub, make_resource("a", odd_type, labels={"where": "odd type"}))
    await create(stub, make_resource("a", type_name, ns=SCRATCH_NS, labels={"where": "scratch"}))

    assert (await get(stub, type_name, "a")).metadata.labels == {"where": "default"}
    assert (await get(stub, odd_type, "a")).metadata.labels == {"where": "odd type"}
    scratch = await get(stub, type_name, "a", ns=SCRATCH_NS)
    assert scratch.metadata.labels == {"where": "scratch"}


async def test_get_of_a_missing_resource_is_not_found(stub: StateAsyncStub, type_name: str) -> None:
    await create(stub, make_resource("a", type_name))

    assert await status_code(get(stub, type_name, "b")) == StatusCode.NOT_FOUND
    assert await status_code(get(stub, f"Other{type_name}", "a")) == StatusCode.NOT_FOUND
    assert await status_code(get(stub, type_name, "a", ns=SCRATCH_NS)) == StatusCode.NOT_FOUND


async def test_create_of_an_existing_resource_is_already_exists(
    stub: StateAsyncStub, type_name: str
) -> None:
    first = await create(stub, make_resource("a", type_name), owner="ctl")

    second = make_resource("a", type_name, labels={"second": "yes"})
    assert await status_code(create(stub, second, owner="ctl")) == StatusCode.ALREADY_EXISTS
    assert await status_code(create(stub, second, owner="other")) == StatusCode.ALREADY_EXISTS
    assert await get(stub, type_name, "a") == first


# --- Update --------------------------------------------------------------------------------------


async def test_update_with_the_stored_version_stores_what_was_sent_at_the_next_version(
    stub: StateAsyncStub, type_name: str
) -> None:
    created = await create(stub, make_resource("a", type_name, labels={"v": "1"}), owner="ctl")
    sent = changed(
        created,
        labels={"v": "2"},
        annotations={"note": "new"},
        finalizers=["f1", "f2"],
        phase="tearingDown",
        owner="new-owner",
    )
    sent.spec.yaml_spec = "changed: true\n"
    sent.spec.proto_spec = b"\x01\x02"

    updated = await update(stub, sent, owner="ctl")

    assert updated.metadata.version == "2"
    assert dict(updated.metadata.labels) == {"v": "2"}
    assert dict(updated.metadata.annotations) == {"note": "new"}
    assert list(updated.metadata.finalizers) == ["f1", "f2"]
    assert updated.metadata.phase == "tearingDown"
    assert updated.metadata.owner == "new-owner"
    assert updated.metadata.created == created.metadata.created
    assert (updated.spec.yaml_spec, updated.spec.proto_spec) == ("changed: true\n", b"\x01\x02")
    assert await get(stub, type_name, "a") == updated
    assert (await update(stub, updated, owner="new-owner")).metadata.version == "3"


@pytest.mark.parametrize("sent_version", ["undefined", "0", "2", "5"])
async def test_update_with_another_version_than_the_stored_one_is_failed_precondition(
    stub: StateAsyncStub, type_name: str, sent_version: str
) -> None:
    created = await create(stub, make_resource("a", type_name))

    stale = changed(created, version=sent_version, labels={"lost": "yes"})
    assert await status_code(update(stub, stale)) == StatusCode.FAILED_PRECONDITION
    assert await get(stub, type_name, "a") == created


async def test_update_with_an_outdated_version_is_failed_precondition(
    stub: StateAsyncStub, type_name: str
) -> None:
    first = await create(stub, make_resource("a", type_name))
    second = await update(stub, changed(first, labels={"writer": "one"}))

    outdated = changed(first, labels={"writer": "two"})
    assert await status_code(update(stub, outdated)) == StatusCode.FAILED_PRECONDITION
    assert await get(stub, type_name, "a") == second


async def test_update_by_another_owner_is_permission_denied(
    stub: StateAsyncStub, type_name: str
) -> None:
    owned = await create(stub, make_resource("owned", type_name), owner="ctl")
    unowned = await create(stub, make_resource("unowned", type_name))

    assert await status_code(update(stub, owned, owner="other")) == StatusCode.PERMISSION_DENIED
    assert await status_code(update(stub, owned, owner="")) == StatusCode.PERMISSION_DENIED
    assert await status_code(update(stub, unowned, owner="ctl")) == StatusCode.PERMISSION_DENIED
    assert await get(stub, type_name, "owned") == owned
    assert await get(stub, type_name, "unowned") == unowned


async def test_update_with_a_different_expected_phase_is_invalid_argument(
    stub: StateAsyncStub, type_name: str
) -> None:
    running = await create(stub, make_resource("a", type_name))

    wrong = update(stub, running, expected_phase="tearingDown")
    assert await status_code(wrong) == StatusCode.INVALID_ARGUMENT
    assert await get(stub, type_name, "a") == running
    matching = await update(stub, running, expected_phase="running")
    assert matching.metadata.version == "2"
    any_phase = await update(stub, changed(matching, phase="tearingDown"))
    assert any_phase.metadata.version == "3"
    assert (await update(stub, any_phase, expected_phase="tearingDown")).metadata.version == "4"


async def test_update_checks_not_found_first(stub: StateAsyncStub, type_name: str) -> None:
    await create(stub, make_resource("a", type_name), owner="ctl")

    everything_wrong = make_resource("missing", type_name, version="9")
    call = update(stub, everything_wrong, owner="other", expected_phase="tearingDown")
    assert await status_code(call) == StatusCode.NOT_FOUND


async def test_update_checks_the_owner_before_the_version_and_phase(
    stub: StateAsyncStub, type_name: str
) -> None:
    created = await create(stub, make_resource("a", type_name), owner="ctl")

    stale = changed(created, version="9")
    call = update(stub, stale, owner="other", expected_phase="tearingDown")
    assert await status_code(call) == StatusCode.PERMISSION_DENIED


async def test_update_checks_the_version_before_the_expected_phase(
    stub: StateAsyncStub, type_name: str
) -> None:
    created = await create(stub, make_resource("a", type_name), owner="ctl")

    stale = changed(created, version="9")
    call = update(stub, stale, owner="ctl", expected_phase="tearingDown")
    assert await status_code(call) == StatusCode.FAILED_PRECONDITION
    assert await get(stub, type_name, "a") == created


# --- Destroy -------------------------------------------------------------------------------------


async def test_destroy_removes_a_running_resource_without_teardown(
    stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("a", type_name), owner="ctl")
    await create(stub, make_resource("b", type_name))

    await destroy(stub, type_name, "a", owner="ctl")

    assert await status_code(get(stub, type_name, "a")) == StatusCode.NOT_FOUND
    assert ids(await list_resources(stub, type_name)) == ["b"]


async def test_destroy_of_a_missing_resource_is_not_found(
    stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("a", type_name))
    await destroy(stub, type_name, "a")

    assert await status_code(destroy(stub, type_name, "a")) == StatusCode.NOT_FOUND
    assert await status_code(destroy(stub, type_name, "never")) == StatusCode.NOT_FOUND


async def test_destroy_by_another_owner_is_permission_denied(
    stub: StateAsyncStub, type_name: str
) -> None:
    owned = await create(stub, make_resource("owned", type_name), owner="ctl")
    unowned = await create(stub, make_resource("unowned", type_name))

    assert await status_code(destroy(stub, type_name, "owned")) == StatusCode.PERMISSION_DENIED
    other = destroy(stub, type_name, "owned", owner="other")
    assert await status_code(other) == StatusCode.PERMISSION_DENIED
    by_owner = destroy(stub, type_name, "unowned", owner="ctl")
    assert await status_code(by_owner) == StatusCode.PERMISSION_DENIED
    assert await list_resources(stub, type_name) == [owned, unowned]


async def test_destroy_with_finalizers_left_is_failed_precondition(
    stub: StateAsyncStub, type_name: str
) -> None:
    created = await create(stub, make_resource("a", type_name, finalizers=["f"]), owner="ctl")
    torn = await create(
        stub, make_resource("b", type_name, finalizers=["f"], phase="tearingDown"), owner="ctl"
    )

    assert await status_code(destroy(stub, type_name, "a", owner="ctl")) == (
        StatusCode.FAILED_PRECONDITION
    )
    assert await status_code(destroy(stub, type_name, "b", owner="ctl")) == (
        StatusCode.FAILED_PRECONDITION
    )
    assert await list_resources(stub, type_name) == [created, torn]


# --- Teardown ------------------------------------------------------------------------------------


async def test_teardown_sets_phase_tearing_down_at_a_new_version_with_an_updated_event(
    stub: StateAsyncStub, type_name: str
) -> None:
    created = await create(stub, make_resource("a", type_name, finalizers=["f"]), owner="ctl")

    async with watching(stub, kind_watch(type_name)) as watch:
        ready = await teardown(stub, type_name, "a", owner="ctl")
        event = await watch.event()

    assert ready is False
    stored = await get(stub, type_name, "a")
    assert (stored.metadata.phase, stored.metadata.version) == ("tearingDown", "2")
    assert list(stored.metadata.finalizers) == ["f"]
    assert stored.metadata.owner == "ctl"
    assert summary([event]) == [("UPDATED", "a", "2")]
    assert event.resource == stored
    assert event.old == created


async def test_teardown_is_idempotent(stub: StateAsyncStub, type_name: str) -> None:
    await create(stub, make_resource("a", type_name, finalizers=["f"]), owner="ctl")
    await teardown(stub, type_name, "a", owner="ctl")
    torn = await get(stub, type_name, "a")

    async with watching(stub, kind_watch(type_name)) as watch:
        assert await teardown(stub, type_name, "a", owner="ctl") is False
        assert await teardown(stub, type_name, "a", owner="ctl") is False
        await watch.quiet()

    assert await get(stub, type_name, "a") == torn


async def test_teardown_answers_destroy_ready_when_no_finalizers_are_left(
    stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("bare", type_name))
    await create(stub, make_resource("held", type_name, finalizers=["f"]))

    assert await teardown(stub, type_name, "bare") is True
    assert await teardown(stub, type_name, "held") is False
    held = await get(stub, type_name, "held")
    released = await update(stub, changed(held, finalizers=[]))
    assert await teardown(stub, type_name, "held") is True
    assert await get(stub, type_name, "held") == released


async def test_teardown_of_a_missing_resource_is_not_found(
    stub: StateAsyncStub, type_name: str
) -> None:
    assert await status_code(teardown(stub, type_name, "missing")) == StatusCode.NOT_FOUND


async def test_teardown_by_another_owner_is_permission_denied(
    stub: StateAsyncStub, type_name: str
) -> None:
    owned = await create(stub, make_resource("owned", type_name), owner="ctl")
    unowned = await create(stub, make_resource("unowned", type_name))

    assert await status_code(teardown(stub, type_name, "owned")) == StatusCode.PERMISSION_DENIED
    by_owner = teardown(stub, type_name, "unowned", owner="ctl")
    assert await status_code(by_owner) == StatusCode.PERMISSION_DENIED
    assert await list_resources(stub, type_name) == [owned, unowned]


async def test_teardown_and_destroy_waits_until_other_clients_remove_every_finalizer(
    shared_daemon: Daemon, stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("a", type_name, finalizers=["f1", "f2"]), owner="ctl")

    async with (
        watching(stub, kind_watch(type_name)) as watch,
        connect(shared_daemon.endpoint) as other_client,
    ):
        call = stub.TeardownAndDestroy(teardown_and_destroy_request(type_name, "a", "ctl"))
        task = asyncio.ensure_future(call)
        torn = await watch.event()
        assert summary([torn]) == [("UPDATED", "a", "2")]
        assert torn.resource.metadata.phase == "tearingDown"
        await asyncio.sleep(0.3)
        assert not task.done()

        one_left = changed(torn.resource, finalizers=["f2"])
        await update(other_client, one_left, owner="ctl", expected_phase="tearingDown")
        assert summary([await watch.event()]) == [("UPDATED", "a", "3")]
        await asyncio.sleep(0.2)
        assert not task.done()

        none_left = changed(torn.resource, version="3", finalizers=[])
        last = await update(other_client, none_left, owner="ctl")
        await asyncio.wait_for(task, 1.0)
        events = await watch.events(2)

    assert isinstance(task.result(), state_pb2.TeardownAndDestroyResponse)
    assert [(e.event_type, e.resource.metadata.version) for e in events] == [
        (UPDATED, "4"),
        (DESTROYED, "4"),
    ]
    assert events[1].resource == last
    assert await status_code(get(stub, type_name, "a")) == StatusCode.NOT_FOUND


async def test_teardown_and_destroy_without_finalizers_destroys_at_once(
    stub: StateAsyncStub, type_name: str
) -> None:
    await create(stub, make_resource("a", type_name), owner="ctl")

    reply = stub.TeardownAndDestroy(teardown_and_destroy_request(type_name, "a", "ctl"))
    await asyncio.wait_for(reply, 1.0)

    assert await status_code(get(stub, type_name, "a")) == StatusCode.NOT_FOUND


async def test_teardown_and_destroy_of_a_missing_resource_is_not_found(
    stub: StateAsyncStub, type_name: str
) -> None:
    call = stub.TeardownAndDestroy(teardown_and_destroy_request(type_name, "missing"), timeout=2)
    assert await status_code(call) == StatusCode.NOT_FOUND


async def test_teardown_and_destroy_by_another_owner_is_permission_denied(
    stub: StateAsyncStub, type_name: str
) -> None:
    owned = await create(stub, make_resource("a", type_name), owner="ctl")

    call = stub.TeardownAndDestroy(teardown_and_destroy_request(type_name, "a", "x"), timeout=2)
    assert await status_code(call) == StatusCode.PERMISSION_DENIED
    assert await get(stub, type_name, "a") == owned


# --- List ----------------------------------------------------------------------------------------


async def test_list_returns_resources_sorted_by_id(stub: StateAsyncStub, type_name: str) -> None:
    unsorted = ["b", "a/z", "ä", "a", "C", "10", "9", "a/b", "-"]
    for id in unsorted:
        await create(stub, make_resource(id, type_name))

    assert ids(await list_resources(stub, type_name)) == sorted(unsorted)


async def test_list_of_a_type_never_stored_is_empty(stub: StateAsyncStub, type_name: str) -> None:
    assert await list_resources(stub, type_name) == []
    assert await list_resources(stub, type_name, ns=SCRATCH_NS) == []


LABELLED = {
    "a": {"env": "prod", "tier": "web", "mem": "512Mi", "size": "10kg", "rank": "10", "disk": "1M"},
    "b": {"env": "dev", "tier": "db", "mem": "2Gi", "size": "9000", "rank": "9", "disk": "1000Ki"},
    "c": {"env": "staging", "mem": "1G", "size": "10001", "rank": "100", "disk": "4GB"},
    "d": {},
    "e": {"env": "prod", "mem": "lots", "size": "1k", "disk": " 999999 "},
}

LABEL_QUERIES: dict[str, tuple[list[resource_pb2.LabelQuery], list[str]]] = {
    "exists": ([label_query(term("tier"))], ["a", "b"]),
    "exists-inverted": ([label_query(term("tier", invert=True))], ["c", "d", "e"]),
    "not-exists-deprecated": ([label_query(term("tier", Op.NOT_EXISTS))], ["c", "d", "e"]),
    "equal": ([label_query(term("env", Op.EQUAL, "prod"))], ["a", "e"]),
    "equal-inverted-matches-missing": (
        [label_query(term("env", Op.EQUAL, "prod", invert=True))],
        ["b", "c", "d"],
    ),
    "in": ([label_query(term("env", Op.IN, "dev", "staging", "nowhere"))], ["b", "c"]),
    "lt-compares-strings": ([label_query(term("rank", Op.LT, "9"))], ["a", "c"]),
    "lte-compares-strings": ([label_query(term("rank", Op.LTE, "9"))], ["a", "b", "c"]),
    "lt-numeric": ([label_query(term("rank", Op.LT_NUMERIC, "10"))], ["b"]),
    "lte-numeric": ([label_query(term("rank", Op.LTE_NUMERIC, "10"))], ["a", "b"]),
    "lte-numeric-decimal-units": (
        [label_query(term("size", Op.LTE_NUMERIC, "10kg"))],
        ["a", "b", "e"],
    ),
    "lt-numeric-binary-units": ([label_query(term("mem", Op.LT_NUMERIC, "1Gi"))], ["a", "c"]),
    "lte-numeric-mega-and-kibi": (
        [label_query(term("disk", Op.LTE_NUMERIC, "1000k"))],
        ["a", "e"],
    ),
    "lt-numeric-mebi": ([label_query(term("disk", Op.LT_NUMERIC, "1Mi"))], ["a", "b", "e"]),
    "lte-numeric-giga-with-unit-name": (
        [label_query(term("disk", Op.LTE_NUMERIC, "4000000000"))],
        ["a", "b", "c", "e"],
    ),
    "lt-numeric-inverted-skips-unparsable": (
        [label_query(term("mem", Op.LT_NUMERIC, "1Gi", invert=True))],
        ["b", "d"],
    ),
    "comparison-on-missing-label-never-matches": (
        [label_query(term("absent", Op.LT, "zzz")), label_query(term("x", Op.LTE_NUMERIC, "9G"))],
        [],
    ),
    "terms-are-anded": (
        [label_query(term("env", Op.EQUAL, "prod"), term("tier"))],
        ["a"],
    ),
    "queries-are-ored": (
        [label_query(term("env", Op.EQUAL, "dev")), label_query(term("tier", Op.EQUAL, "web"))],
        ["a", "b"],
    ),
    "or-of-ands": (
        [
            label_query(term("env", Op.EQUAL, "prod"), term("tier")),
            label_query(term("size", Op.LT_NUMERIC, "2k"), term("mem")),
        ],
        ["a", "e"],
    ),
}


@pytest.mark.parametrize(("queries", "expected"), LABEL_QUERIES.values(), ids=LABEL_QUERIES)
async def test_list_label_query(
    stub: StateAsyncStub,
    type_name: str,
    queries: list[resource_pb2.LabelQuery],
    expected: list[str],
) -> None:
    for id, labels in reversed(LABELLED.items()):
        await create(stub, make_resource(id, type_name, labels=labels))

    assert ids(await list_resources(stub, type_name, label_queries=queries)) == expected


ID_QUERIES = {
    "anchored": ("^idquery/.+[2-4]$", ["idquery/12", "idquery/x3"]),
    "unanchored-search": ("3", ["idquery/3", "idquery/x3", "other/3"]),
    "alternation": ("^other|/1$", ["idquery/1", "other/3"]),
    "re2-posix-class": (
        r"^i\w+/[[:digit:]]$",
        ["idquery/1", "idquery/2", "idquery/3", "idquery/4"],
    ),
}


@pytest.mark.parametrize(("regexp", "expected"), ID_QUERIES.values(), ids=ID_QUERIES)
async def test_list_id_query_is_a_regexp_search(
    stub: StateAsyncStub, type_name: str, regexp: str, expected: list[str]
) -> None:
    for id in (
        "other/3",
        "idquery/4",
        "idquery/3",
        "idquery/2",
        "idquery/1",
        "idquery/12",
        "idquery/x3",
    ):
        await create(stub, make_resource(id, type_name))

    assert ids(await list_resources(stub, type_name, id_regexp=regexp)) == expected


async def test_list_id_query_and_label_queries_both_apply(
    stub: StateAsyncStub, type_name: str
) -> None:
    for id, labels in LABELLED.items():
        await create(stub, make_resource(id, type_name, labels=labels))

    queries = [label_query(term("env", Op.IN, "prod", "dev"))]
    assert ids(await list_resources(stub, type_name, label_queries=queries, id_regexp="[b-e]")) == [
        "b",
        "e",
    ]
