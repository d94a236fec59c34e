"""Label and id queries: on List, and on kind watches (where they cause synthetic events)."""

from __future__ import annotations

import pytest

from cosid.state.errors import InvalidQueryError, StateError
from cosid.state.events import EventType
from cosid.state.query import IDQuery, LabelOp, LabelQuery, LabelTerm, ResourceQuery
from cosid.state.resource import Kind
from cosid.state.state import WatchKindOptions
from cosid.state.store import Store
from tests.state.conftest import (
    KIND,
    NS,
    make_resource,
    next_events,
    ptr,
    resource_ids,
    summary,
)

CREATED, UPDATED, DESTROYED = EventType.CREATED, EventType.UPDATED, EventType.DESTROYED
BOOTSTRAPPED = EventType.BOOTSTRAPPED

LABELLED = {
    "web-1": {"app": "web", "tier": "frontend", "mem": "512Mi", "weight": "10kg", "ver": "b"},
    "web-2": {"app": "web", "tier": "backend", "mem": "2Gi", "weight": "500", "ver": "a"},
    "db-1": {"app": "db", "mem": "4GB", "weight": "2k", "ver": "c"},
    "units": {"mem": "1 ki", "weight": "5GiB"},
    "odd": {"mem": "lots", "weight": "1-2"},
    "plain": {},
}
ALL = sorted(LABELLED)


def term(key: str, op: LabelOp = LabelOp.EXISTS, *values: str, invert: bool = False) -> LabelTerm:
    return LabelTerm(key, op, values, invert)


def terms(*anded: LabelTerm) -> LabelQuery:
    return LabelQuery(anded)


def labels(*ored: LabelQuery) -> ResourceQuery:
    return ResourceQuery(label_queries=ored)


def one(single: LabelTerm) -> ResourceQuery:
    return labels(terms(single))


EQ, IN, LT, LTE = LabelOp.EQUAL, LabelOp.IN, LabelOp.LT, LabelOp.LTE
LTN, LTEN = LabelOp.LT_NUMERIC, LabelOp.LTE_NUMERIC

# (query, the ids it matches among LABELLED), each worked out by hand from the spec.
QUERIES: dict[str, tuple[ResourceQuery, list[str]]] = {
    "no-queries": (ResourceQuery(), ALL),
    "one-empty-query": (labels(terms()), ALL),
    "exists": (one(term("app")), ["db-1", "web-1", "web-2"]),
    "not-exists-is-inverted-exists": (one(term("app", invert=True)), ["odd", "plain", "units"]),
    "deprecated-not-exists": (one(term("app", LabelOp.NOT_EXISTS)), ["odd", "plain", "units"]),
    "deprecated-not-exists-ignores-invert": (
        one(term("app", LabelOp.NOT_EXISTS, invert=True)),
        ["odd", "plain", "units"],
    ),
    "equal": (one(term("app", EQ, "web")), ["web-1", "web-2"]),
    "not-equal-matches-missing": (
        one(term("app", EQ, "web", invert=True)),
        ["db-1", "odd", "plain", "units"],
    ),
    "equal-empty-value": (one(term("tier", EQ, "")), []),
    "in": (one(term("app", IN, "db", "cache")), ["db-1"]),
    "not-in": (one(term("app", IN, "db", "web", invert=True)), ["odd", "plain", "units"]),
    "in-nothing-inverted-matches-all": (one(term("app", IN, invert=True)), ALL),
    "lt-string": (one(term("ver", LT, "b")), ["web-2"]),
    "lte-string": (one(term("ver", LTE, "b")), ["web-1", "web-2"]),
    "not-lt-matches-missing": (
        one(term("ver", LT, "b", invert=True)),
        ["db-1", "odd", "plain", "units", "web-1"],
    ),
    "lt-compares-strings-not-numbers": (one(term("weight", LT, "3")), ["db-1", "odd", "web-1"]),
    "lt-numeric-small": (one(term("weight", LTN, "3")), []),
    "lt-numeric-kg-is-kilo": (one(term("weight", LTN, "10000")), ["db-1", "web-2"]),
    "lte-numeric-suffix-both-sides": (
        one(term("weight", LTEN, "10k")),
        ["db-1", "web-1", "web-2"],
    ),
    "lt-numeric-binary-suffix": (one(term("mem", LTN, "1Gi")), ["units", "web-1"]),
    "lte-numeric-gb-is-decimal": (
        one(term("mem", LTEN, "4000000000")),
        ["db-1", "units", "web-1", "web-2"],
    ),
    "lt-numeric-excludes-equal": (one(term("mem", LTN, "4G")), ["units", "web-1", "web-2"]),
    "lte-numeric-spaced-lowercase-suffix": (one(term("mem", LTEN, "1024")), ["units"]),
    "lt-numeric-gib-exact-below": (
        one(term("weight", LTN, "5368709120")),
        ["db-1", "web-1", "web-2"],
    ),
    "lt-numeric-gib-exact-above": (
        one(term("weight", LTN, "5368709121")),
        ["db-1", "units", "web-1", "web-2"],
    ),
    "not-lt-numeric-unparsable-never-matches": (
        one(term("mem", LTN, "4G", invert=True)),
        ["db-1", "plain"],
    ),
    "unparsable-bound-only-inverted-missing-matches": (
        one(term("weight", LTEN, "1-2", invert=True)),
        ["plain"],
    ),
    "terms-are-anded": (
        labels(terms(term("app", EQ, "web"), term("tier", EQ, "backend"))),
        ["web-2"],
    ),
    "anded-with-inverted-term": (
        labels(terms(term("app", EQ, "web"), term("tier", EQ, "frontend", invert=True))),
        ["web-2"],
    ),
    "queries-are-ored": (
        labels(terms(term("app", EQ, "db")), terms(term("tier", EQ, "frontend"))),
        ["db-1", "web-1"],
    ),
    "or-of-ands": (
        labels(
            terms(term("app", EQ, "web"), term("tier", EQ, "backend")),
            terms(term("mem", LTN, "1Gi")),
        ),
        ["units", "web-1", "web-2"],
    ),
    "id-unanchored": (ResourceQuery(id_query=IDQuery("eb")), ["web-1", "web-2"]),
    "id-anchored": (ResourceQuery(id_query=IDQuery("^w.*-2$")), ["web-2"]),
    "id-alternation": (ResourceQuery(id_query=IDQuery("^units$|^plain$")), ["plain", "units"]),
    "id-anded-with-labels": (
        ResourceQuery(label_queries=[terms(term("app", EQ, "web"))], id_query=IDQuery("-1$")),
        ["web-1"],
    ),
}


async def create_labelled(store: Store) -> None:
    for id, resource_labels in LABELLED.items():
        await store.create(make_resource(id, labels=resource_labels))


@pytest.mark.parametrize(("query", "expected"), list(QUERIES.values()), ids=list(QUERIES))
async def test_list_with_a_query(store: Store, query: ResourceQuery, expected: list[str]) -> None:
    await create_labelled(store)

    assert resource_ids(await store.list(KIND, query)) == expected


async def test_id_query_with_slashes(store: Store) -> None:
    for i in range(1, 6):
        await store.create(make_resource(f"idquery/path-{i}"))
    await store.create(make_resource("other/path-3"))

    matching = await store.list(KIND, ResourceQuery(id_query=IDQuery("^idquery/.+[2-4]$")))

    assert resource_ids(matching) == ["idquery/path-2", "idquery/path-3", "idquery/path-4"]


async def test_list_with_a_query_on_an_unknown_kind_is_empty(store: Store) -> None:
    await create_labelled(store)

    assert await store.list(Kind(NS, "Unknowns.test.cosi.dev"), one(term("app"))) == []


@pytest.mark.parametrize(
    "pattern",
    ["(", "[a-", "a{2,1}", r"(a)\1", "(?=a)", "x" * 4097],
    ids=["paren", "class", "repeat", "backreference", "lookahead", "too-long"],
)
def test_invalid_id_regexps_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidQueryError) as refused:
        IDQuery(pattern)
    assert isinstance(refused.value, StateError)


@pytest.mark.parametrize("op", [EQ, LT, LTE, LTN, LTEN])
def test_comparisons_without_a_value_are_refused(op: LabelOp) -> None:
    with pytest.raises(InvalidQueryError):
        LabelTerm("key", op)


# --- Queries on kind watches ---------------------------------------------------------------------


async def test_watch_with_a_label_query_sends_synthetic_created_and_destroyed(
    store: Store,
) -> None:
    web = labels(terms(term("app", EQ, "web")))
    filtered = await store.watch_kind(KIND, WatchKindOptions(query=web))
    unfiltered = await store.watch_kind(KIND)

    a = await store.create(make_resource("a", labels={"app": "db"}))
    a = await store.update(a.with_metadata(labels={"app": "web"}))
    a = await store.update(a.with_metadata(labels={"app": "web", "more": "yes"}))
    a = await store.update(a.with_metadata(labels={"app": "db"}))
    await store.destroy(ptr("a"))
    b = await store.create(make_resource("b", labels={"app": "web"}))
    await store.update(b.with_metadata(labels={}))

    events = await next_events(filtered, 5)
    everything = await next_events(unfiltered, 7)
    assert summary(events) == [
        (CREATED, "a", 2),
        (UPDATED, "a", 3),
        (DESTROYED, "a", 4),
        (CREATED, "b", 1),
        (DESTROYED, "b", 2),
    ]
    assert [e.old for e in events] == [None, everything[1].resource, None, None, None]
    assert events[2].resource is not None
    assert events[2].resource.metadata.labels == {"app": "db"}
    # Synthetic events keep the bookmark of the change that caused them.
    by_position = [everything[i] for i in (1, 2, 3, 5, 6)]
    assert [e.bookmark for e in events] == [e.bookmark for e in by_position]


async def test_watch_with_an_id_query_sends_only_matching_ids(store: Store) -> None:
    query = ResourceQuery(id_query=IDQuery("^keep"))
    watch = await store.watch_kind(KIND, WatchKindOptions(query=query))

    keep = await store.create(make_resource("keep-1"))
    drop = await store.create(make_resource("drop-keep"))
    await store.update(drop)
    await store.destroy(ptr("drop-keep"))
    await store.update(keep)
    await store.destroy(ptr("keep-1"))

    assert summary(await next_events(watch, 3)) == [
        (CREATED, "keep-1", 1),
        (UPDATED, "keep-1", 2),
        (DESTROYED, "keep-1", 2),
    ]


async def test_watch_with_label_and_id_queries_bootstraps_only_matches(store: Store) -> None:
    await create_labelled(store)
    query = ResourceQuery(label_queries=[terms(term("mem"))], id_query=IDQuery("[0-9]$"))
    watch = await store.watch_kind(KIND, WatchKindOptions(query=query, bootstrap_contents=True))

    events = await next_events(watch, 4)

    assert [(e.type, e.resource.metadata.id if e.resource else None) for e in events] == [
        (CREATED, "db-1"),
        (CREATED, "web-1"),
        (CREATED, "web-2"),
        (BOOTSTRAPPED, ""),
    ]


async def test_a_filtered_watch_resumes_from_a_synthetic_event(store: Store) -> None:
    web = WatchKindOptions(query=labels(terms(term("app", EQ, "web"))))
    watch = await store.watch_kind(KIND, web)
    a = await store.create(make_resource("a", labels={"app": "db"}))
    a = await store.update(a.with_metadata(labels={"app": "web"}))
    await store.update(a.with_metadata(labels={"app": "db"}))
    await store.create(make_resource("b", labels={"app": "web"}))
    events = await next_events(watch, 3)
    assert summary(events) == [(CREATED, "a", 2), (DESTROYED, "a", 3), (CREATED, "b", 1)]
    assert events[0].bookmark is not None

    resumed = await store.watch_kind(
        KIND, WatchKindOptions(query=web.query, start_from_bookmark=events[0].bookmark)
    )

    assert await next_events(resumed, 2) == events[1:]
