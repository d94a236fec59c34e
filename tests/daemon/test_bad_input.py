"""Bad input over the wire: each gets its precise code (INVALID_ARGUMENT names the fields in a
google.rpc.BadRequest), the store is unchanged afterwards and the daemon keeps serving."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import grpc
import pytest

from cosid.api.cosi.resource import resource_pb2, state_pb2
from cosid.server.limits import Limits
from tests.support.wire import (
    CLOSED_NS,
    META_NS,
    NAMESPACES_TYPE,
    NS,
    READ_TIMEOUT,
    RESOURCE_DEFINITIONS_TYPE,
    SCRATCH_NS,
    Op,
    Request,
    changed,
    create,
    field_violations,
    get,
    kind_watch,
    label_query,
    list_resources,
    make_resource,
    rpc_error,
    send,
    single_watch,
    term,
)

if TYPE_CHECKING:
    from cosid.api.cosi.resource.state_pb2_grpc import StateAsyncStub

StatusCode = grpc.StatusCode
LIMITS = Limits()
"""The test daemon runs with the default limits."""

RequestFor = Callable[[str], Request]
"""Builds a request against the test's own type."""


@pytest.fixture
async def seeded(stub: StateAsyncStub, type_name: str) -> resource_pb2.Resource:
    """A stored resource (and one in `scratch`), so that "unchanged" has something to compare."""
    await create(stub, make_resource("seed", type_name, ns=SCRATCH_NS))
    return await create(stub, make_resource("seed", type_name, labels={"a": "b"}), owner="o")


async def store_state(stub: StateAsyncStub, type_name: str) -> list[resource_pb2.Resource]:
    everything: list[resource_pb2.Resource] = []
    for ns, type in (
        (NS, type_name),
        (SCRATCH_NS, type_name),
        (META_NS, NAMESPACES_TYPE),
        (META_NS, RESOURCE_DEFINITIONS_TYPE),
    ):
        everything += await list_resources(stub, type, ns=ns)
    return everything


@asynccontextmanager
async def unchanged(stub: StateAsyncStub, type_name: str) -> AsyncIterator[None]:
    """The block changes nothing stored, and the daemon still answers afterwards."""
    before = await store_state(stub, type_name)
    assert before, "nothing to compare"
    yield
    assert await store_state(stub, type_name) == before
    assert (await get(stub, type_name, "seed")).metadata.labels == {"a": "b"}
    probe = await create(stub, make_resource("probe", type_name, ns=SCRATCH_NS))
    assert probe.metadata.version == "1"
    await send(stub, state_pb2.DestroyRequest(namespace=SCRATCH_NS, type=type_name, id="probe"))


async def refused(stub: StateAsyncStub, type_name: str, request: Request) -> grpc.aio.AioRpcError:
    """Send a request that must fail; checks that it changed nothing."""
    async with unchanged(stub, type_name):
        return await rpc_error(send(stub, request))


async def invalid_fields(stub: StateAsyncStub, type_name: str, request: Request) -> dict[str, str]:
    """The fields an INVALID_ARGUMENT names, each with a non-empty description."""
    error = await refused(stub, type_name, request)
    assert error.code() == StatusCode.INVALID_ARGUMENT, error.details()
    violations = field_violations(error)
    assert all(violations.values()), violations
    return violations


def create_request(resource: resource_pb2.Resource, owner: str = "") -> state_pb2.CreateRequest:
    return state_pb2.CreateRequest(resource=resource, options=state_pb2.CreateOptions(owner=owner))


def update_request(
    resource: resource_pb2.Resource, owner: str = "", expected_phase: str | None = None
) -> state_pb2.UpdateRequest:
    options = state_pb2.UpdateOptions(owner=owner)
    if expected_phase is not None:
        options.expected_phase = expected_phase
    return state_pb2.UpdateRequest(new_resource=resource, options=options)


def seed(type_name: str, **metadata: object) -> resource_pb2.Resource:
    """The seeded resource at its stored version, with some metadata changed."""
    return changed(make_resource("seed", type_name, version="1", labels={"a": "b"}), **metadata)


# --- Undecodable and incomplete messages ---------------------------------------------------------

UNDECODABLE = {
    "truncated": b"\x0a\x05\x0a\x03",
    "garbage": b"\xff\xff\xff\xff",
    "invalid-utf8-in-field-2": b"\x12\x05\x0a\x03\x1a\x01\xff",
    "end-group-without-start": b"\x0c",
}


async def raw_call(channel: grpc.aio.Channel, method: str, payload: bytes) -> object:
    """Send bytes as the request of a State method: its reply (a stream's first one)."""
    path = f"/cosi.resource.State/{method}"
    if method in ("List", "Watch"):
        stream = channel.unary_stream(path, None, None)(payload, timeout=READ_TIMEOUT)
        try:
            return await stream.read()
        finally:
            stream.cancel()
    return await channel.unary_unary(path, None, None)(payload, timeout=READ_TIMEOUT)


@pytest.mark.parametrize("payload", UNDECODABLE.values(), ids=UNDECODABLE)
@pytest.mark.usefixtures("seeded")
async def test_an_undecodable_request_is_invalid_argument(
    stub: StateAsyncStub, channel: grpc.aio.Channel, type_name: str, payload: bytes
) -> None:
    for method in ("Create", "Update", "Get", "List", "Watch", "TeardownAndDestroy"):
        async with unchanged(stub, type_name):
            error = await rpc_error(raw_call(channel, method, payload))
        assert error.code() == StatusCode.INVALID_ARGUMENT, (method, error.details())
        assert list(field_violations(error)) == ["request"]
        assert "<class" not in (error.details() or ""), "no internals leak"


@pytest.mark.usefixtures("seeded")
async def test_fields_of_the_wrong_wire_type_are_ignored_as_unknown_fields(
    stub: StateAsyncStub, channel: grpc.aio.Channel, type_name: str
) -> None:
    resource_as_a_number = b"\x08\x01"

    async with unchanged(stub, type_name):
        error = await rpc_error(raw_call(channel, "Create", resource_as_a_number))

    assert error.code() == StatusCode.INVALID_ARGUMENT
    assert field_violations(error).keys() == {"resource.metadata"}


MISSING_METADATA: dict[str, tuple[RequestFor, str]] = {
    "create": (lambda t: state_pb2.CreateRequest(), "resource.metadata"),
    "create-spec-only": (
        lambda t: create_request(resource_pb2.Resource(spec=resource_pb2.Spec(yaml_spec="x"))),
        "resource.metadata",
    ),
    "update": (lambda t: state_pb2.UpdateRequest(), "new_resource.metadata"),
}


@pytest.mark.parametrize(("request_for", "field"), MISSING_METADATA.values(), ids=MISSING_METADATA)
@pytest.mark.usefixtures("seeded")
async def test_a_resource_without_metadata_is_invalid_argument(
    stub: StateAsyncStub, type_name: str, request_for: RequestFor, field: str
) -> None:
    violations = await invalid_fields(stub, type_name, request_for(type_name))

    assert list(violations) == [field]


EMPTY_NAMES: dict[str, tuple[RequestFor, list[str]]] = {
    "create-namespace": (
        lambda t: create_request(make_resource("x", t, ns="")),
        ["resource.metadata.namespace"],
    ),
    "create-type": (
        lambda t: create_request(make_resource("x", "")),
        ["resource.metadata.type"],
    ),
    "create-id": (lambda t: create_request(make_resource("", t)), ["resource.metadata.id"]),
    "create-all": (
        lambda t: create_request(make_resource("", "", ns="")),
        ["resource.metadata.namespace", "resource.metadata.type", "resource.metadata.id"],
    ),
    "update-id": (lambda t: update_request(seed(t, id="")), ["new_resource.metadata.id"]),
    "get-id": (lambda t: state_pb2.GetRequest(namespace=NS, type=t), ["id"]),
    "get-namespace": (lambda t: state_pb2.GetRequest(type=t, id="seed"), ["namespace"]),
    "list-type": (lambda t: state_pb2.ListRequest(namespace=NS), ["type"]),
    "destroy-id": (lambda t: state_pb2.DestroyRequest(namespace=NS, type=t), ["id"]),
    "teardown-type": (lambda t: state_pb2.TeardownRequest(namespace=NS, id="seed"), ["type"]),
    "teardown-and-destroy-namespace": (
        lambda t: state_pb2.TeardownAndDestroyRequest(type=t, id="seed"),
        ["namespace"],
    ),
    "watch-kind-namespace": (lambda t: kind_watch(t, ns=""), ["namespace"]),
    "watch-single-id": (lambda t: single_watch(t, ""), ["id"]),
    "finalizer": (
        lambda t: create_request(make_resource("x", t, finalizers=["ok", ""])),
        ["resource.metadata.finalizers[1]"],
    ),
    "label-key": (
        lambda t: create_request(make_resource("x", t, labels={"": "v"})),
        ["resource.metadata.labels['']"],
    ),
}


@pytest.mark.parametrize(("request_for", "fields"), EMPTY_NAMES.values(), ids=EMPTY_NAMES)
@pytest.mark.usefixtures("seeded")
async def test_empty_names_are_invalid_argument(
    stub: StateAsyncStub, type_name: str, request_for: RequestFor, fields: list[str]
) -> None:
    violations = await invalid_fields(stub, type_name, request_for(type_name))

    assert list(violations) == fields


# --- Limits --------------------------------------------------------------------------------------

OVER_LIMITS: dict[str, tuple[RequestFor, str]] = {
    "spec-proto": (
        lambda t: create_request(
            make_resource("x", t, proto_spec=b"\x00" * (LIMITS.max_spec_bytes + 1), yaml_spec="")
        ),
        "resource.spec",
    ),
    "spec-proto-and-yaml": (
        lambda t: create_request(
            make_resource(
                "x",
                t,
                proto_spec=b"p" * (LIMITS.max_spec_bytes // 2),
                yaml_spec="é" * (LIMITS.max_spec_bytes // 4 + 1),
            )
        ),
        "resource.spec",
    ),
    "spec-on-update": (
        lambda t: update_request(
            resource_pb2.Resource(
                metadata=seed(t).metadata,
                spec=resource_pb2.Spec(yaml_spec="y" * (LIMITS.max_spec_bytes + 1)),
            ),
            owner="o",
        ),
        "new_resource.spec",
    ),
    "label-count": (
        lambda t: create_request(
            make_resource("x", t, labels={f"k{i}": "v" for i in range(LIMITS.max_labels + 1)})
        ),
        "resource.metadata.labels",
    ),
    "label-value": (
        lambda t: create_request(
            make_resource("x", t, labels={"k": "v" * (LIMITS.max_label_value_length + 1)})
        ),
        "resource.metadata.labels['k']",
    ),
    "label-key": (
        lambda t: create_request(
            make_resource("x", t, labels={"k" * (LIMITS.max_name_length + 1): "v"})
        ),
        f"resource.metadata.labels[{'k' * 64!r}]",
    ),
    "annotation-count": (
        lambda t: create_request(
            make_resource(
                "x", t, annotations={f"k{i}": "" for i in range(LIMITS.max_annotations + 1)}
            )
        ),
        "resource.metadata.annotations",
    ),
    "annotation-bytes": (
        lambda t: create_request(
            make_resource("x", t, annotations={"k": "v" * LIMITS.max_annotation_bytes})
        ),
        "resource.metadata.annotations",
    ),
    "finalizer-count": (
        lambda t: create_request(
            make_resource("x", t, finalizers=[f"f{i}" for i in range(LIMITS.max_finalizers + 1)])
        ),
        "resource.metadata.finalizers",
    ),
    "id-length": (
        lambda t: create_request(make_resource("i" * (LIMITS.max_id_length + 1), t)),
        "resource.metadata.id",
    ),
    "type-length": (
        lambda t: state_pb2.GetRequest(
            namespace=NS, type="T" * (LIMITS.max_name_length + 1), id="x"
        ),
        "type",
    ),
    "owner-length": (
        lambda t: create_request(make_resource("x", t), owner="o" * (LIMITS.max_name_length + 1)),
        "options.owner",
    ),
    "label-terms": (
        lambda t: state_pb2.ListRequest(
            namespace=NS,
            type=t,
            options=state_pb2.ListOptions(
                label_query=[
                    label_query(*[term(f"k{i}") for i in range(LIMITS.max_label_terms // 2 + 1)])
                    for _ in range(2)
                ]
            ),
        ),
        "options.label_query",
    ),
}


@pytest.mark.parametrize(("request_for", "field"), OVER_LIMITS.values(), ids=OVER_LIMITS)
@pytest.mark.usefixtures("seeded")
async def test_values_over_the_limits_are_invalid_argument(
    stub: StateAsyncStub, type_name: str, request_for: RequestFor, field: str
) -> None:
    violations = await invalid_fields(stub, type_name, request_for(type_name))

    assert list(violations) == [field]


@pytest.mark.usefixtures("seeded")
async def test_a_message_over_the_size_limit_is_resource_exhausted(
    stub: StateAsyncStub, type_name: str
) -> None:
    huge = make_resource("x", type_name, annotations={"k": "v" * LIMITS.max_message_bytes})

    error = await refused(stub, type_name, create_request(huge))

    assert error.code() == StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.usefixtures("seeded")
async def test_values_at_the_limits_are_accepted(stub: StateAsyncStub, type_name: str) -> None:
    resource = make_resource(
        "i" * LIMITS.max_id_length,
        type_name,
        proto_spec=b"p" * (LIMITS.max_spec_bytes // 2),
        yaml_spec="y" * (LIMITS.max_spec_bytes // 2),
        labels={f"k{i}": "v" * LIMITS.max_label_value_length for i in range(LIMITS.max_labels)},
        finalizers=[f"f{i}" for i in range(LIMITS.max_finalizers)],
    )

    stored = await create(stub, resource, owner="o" * LIMITS.max_name_length)

    assert stored.metadata.version == "1"
    assert len(stored.spec.proto_spec) + len(stored.spec.yaml_spec) == LIMITS.max_spec_bytes


# --- Characters, versions, phases ----------------------------------------------------------------

CONTROL_CHARACTERS = {"nul": "\x00", "newline": "\n", "escape": "\x1b", "delete": "\x7f"}


@pytest.mark.parametrize("character", CONTROL_CHARACTERS.values(), ids=CONTROL_CHARACTERS)
@pytest.mark.usefixtures("seeded")
async def test_control_characters_in_names_are_invalid_argument(
    stub: StateAsyncStub, type_name: str, character: str
) -> None:
    bad = f"a{character}b"
    cases: list[tuple[Request, list[str]]] = [
        (create_request(make_resource(bad, type_name)), ["resource.metadata.id"]),
        (create_request(make_resource("x", type_name, ns=bad)), ["resource.metadata.namespace"]),
        (create_request(make_resource("x", bad)), ["resource.metadata.type"]),
        (create_request(make_resource("x", type_name), owner=bad), ["options.owner"]),
        (
            create_request(make_resource("x", type_name, finalizers=[bad])),
            ["resource.metadata.finalizers[0]"],
        ),
        (update_request(seed(type_name, id=bad)), ["new_resource.metadata.id"]),
        (state_pb2.GetRequest(namespace=NS, type=type_name, id=bad), ["id"]),
        (state_pb2.DestroyRequest(namespace=NS, type=type_name, id=bad), ["id"]),
        (single_watch(type_name, bad), ["id"]),
        (state_pb2.ListRequest(namespace=NS, type=bad), ["type"]),
    ]
    for request, fields in cases:
        violations = await invalid_fields(stub, type_name, request)
        assert list(violations) == fields, request


INVALID_VERSIONS = ["abc", "-1", "1.5", " 1", "+1", "0x10", "\u0661", "18446744073709551616"]


@pytest.mark.parametrize("version", INVALID_VERSIONS)
@pytest.mark.usefixtures("seeded")
async def test_an_invalid_version_string_is_invalid_argument(
    stub: StateAsyncStub, type_name: str, version: str
) -> None:
    on_create = create_request(make_resource("x", type_name, version=version))
    on_update = update_request(seed(type_name, version=version), owner="o")

    assert list(await invalid_fields(stub, type_name, on_create)) == ["resource.metadata.version"]
    assert list(await invalid_fields(stub, type_name, on_update)) == [
        "new_resource.metadata.version"
    ]


@pytest.mark.parametrize("phase", ["deleted", "Running", "tearingdown", "running "])
@pytest.mark.usefixtures("seeded")
async def test_an_invalid_phase_is_invalid_argument(
    stub: StateAsyncStub, type_name: str, phase: str
) -> None:
    on_create = create_request(make_resource("x", type_name, phase=phase))
    on_update = update_request(seed(type_name, phase=phase), owner="o")
    expected = update_request(seed(type_name), owner="o", expected_phase=phase)

    assert list(await invalid_fields(stub, type_name, on_create)) == ["resource.metadata.phase"]
    assert list(await invalid_fields(stub, type_name, on_update)) == ["new_resource.metadata.phase"]
    assert list(await invalid_fields(stub, type_name, expected)) == ["options.expected_phase"]


# --- Queries and watch options -------------------------------------------------------------------

INVALID_REGEXPS = {
    "unbalanced": "(",
    "bad-repeat": "a{2,1}",
    "backreference": r"(a)\1",
    "lookahead": "a(?=b)",
    "too-long": "a" * 4097,
}


@pytest.mark.parametrize("regexp", INVALID_REGEXPS.values(), ids=INVALID_REGEXPS)
@pytest.mark.usefixtures("seeded")
async def test_an_invalid_id_regexp_is_invalid_argument(
    stub: StateAsyncStub, type_name: str, regexp: str
) -> None:
    id_query = resource_pb2.IDQuery(regexp=regexp)
    on_list = state_pb2.ListRequest(
        namespace=NS, type=type_name, options=state_pb2.ListOptions(id_query=id_query)
    )

    for request in (on_list, kind_watch(type_name, id_query=id_query)):
        violations = await invalid_fields(stub, type_name, request)
        assert list(violations) == ["options.id_query.regexp"]


INVALID_TERMS: dict[str, tuple[resource_pb2.LabelTerm, str]] = {
    "equal-without-value": (term("k", Op.EQUAL), "value"),
    "lt-without-value": (term("k", Op.LT), "value"),
    "lte-without-value": (term("k", Op.LTE), "value"),
    "lt-numeric-without-value": (term("k", Op.LT_NUMERIC), "value"),
    "lte-numeric-without-value": (term("k", Op.LTE_NUMERIC, invert=True), "value"),
    "unknown-operator": (term("k", Op.ValueType(99)), "op"),
    "empty-key": (term(""), "key"),
}


@pytest.mark.parametrize(("bad_term", "part"), INVALID_TERMS.values(), ids=INVALID_TERMS)
@pytest.mark.usefixtures("seeded")
async def test_an_invalid_label_term_is_invalid_argument(
    stub: StateAsyncStub, type_name: str, bad_term: resource_pb2.LabelTerm, part: str
) -> None:
    queries = [label_query(term("fine")), label_query(term("fine"), bad_term)]
    on_list = state_pb2.ListRequest(
        namespace=NS, type=type_name, options=state_pb2.ListOptions(label_query=queries)
    )

    for request in (on_list, kind_watch(type_name, label_query=queries)):
        violations = await invalid_fields(stub, type_name, request)
        assert list(violations) == [f"options.label_query[1].terms[1].{part}"]


MALFORMED_BOOKMARKS = {
    "empty": b"",
    "short": b"bookmark",
    "random-16-bytes": bytes(range(16)),
    "long": bytes(range(17)),
}


@pytest.mark.parametrize("bookmark", MALFORMED_BOOKMARKS.values(), ids=MALFORMED_BOOKMARKS)
@pytest.mark.usefixtures("seeded")
async def test_a_malformed_bookmark_is_failed_precondition(
    stub: StateAsyncStub, type_name: str, bookmark: bytes
) -> None:
    for request in (
        kind_watch(type_name, start_from_bookmark=bookmark),
        single_watch(type_name, "seed", start_from_bookmark=bookmark),
    ):
        error = await refused(stub, type_name, request)
        assert error.code() == StatusCode.FAILED_PRECONDITION


CONTRADICTING_WATCH_OPTIONS: dict[str, tuple[RequestFor, list[str]]] = {
    "bootstrap-and-tail": (
        lambda t: kind_watch(t, bootstrap_contents=True, tail_events=1),
        ["options.bootstrap_contents"],
    ),
    "bootstrap-and-bookmark": (
        lambda t: kind_watch(t, bootstrap_contents=True, start_from_bookmark=b"x" * 16),
        ["options.bootstrap_contents"],
    ),
    "tail-and-bookmark": (
        lambda t: kind_watch(t, tail_events=1, start_from_bookmark=b"x" * 16),
        ["options.tail_events"],
    ),
    "tail-and-bookmark-single": (
        lambda t: single_watch(t, "seed", tail_events=1, start_from_bookmark=b"x" * 16),
        ["options.tail_events"],
    ),
    "negative-tail": (lambda t: kind_watch(t, tail_events=-1), ["options.tail_events"]),
    "negative-tail-single": (
        lambda t: single_watch(t, "seed", tail_events=-1),
        ["options.tail_events"],
    ),
    "single-with-bootstrap": (
        lambda t: single_watch(t, "seed", bootstrap_contents=True),
        ["options.bootstrap_contents"],
    ),
    "single-with-label-query": (
        lambda t: single_watch(t, "seed", label_query=[label_query(term("a"))]),
        ["options.label_query"],
    ),
    "single-with-id-query": (
        lambda t: single_watch(t, "seed", id_query=resource_pb2.IDQuery(regexp="s")),
        ["options.id_query"],
    ),
}


@pytest.mark.parametrize(
    ("request_for", "fields"),
    CONTRADICTING_WATCH_OPTIONS.values(),
    ids=CONTRADICTING_WATCH_OPTIONS,
)
@pytest.mark.usefixtures("seeded")
async def test_contradicting_watch_options_are_invalid_argument(
    stub: StateAsyncStub, type_name: str, request_for: RequestFor, fields: list[str]
) -> None:
    violations = await invalid_fields(stub, type_name, request_for(type_name))

    assert list(violations) == fields


# --- Namespaces and types ------------------------------------------------------------------------


def every_rpc(ns: str, type: str) -> list[Request]:
    """One request of each RPC against (ns, type)."""
    resource = make_resource("x", type, ns=ns, version="1")
    return [
        state_pb2.GetRequest(namespace=ns, type=type, id="x"),
        state_pb2.ListRequest(namespace=ns, type=type),
        create_request(resource),
        update_request(resource),
        state_pb2.DestroyRequest(namespace=ns, type=type, id="x"),
        state_pb2.TeardownRequest(namespace=ns, type=type, id="x"),
        state_pb2.TeardownAndDestroyRequest(namespace=ns, type=type, id="x"),
        kind_watch(type, ns=ns),
        single_watch(type, "x", ns=ns),
    ]


@pytest.mark.usefixtures("seeded")
async def test_an_unknown_namespace_is_not_found(stub: StateAsyncStub, type_name: str) -> None:
    for request in every_rpc("nowhere", type_name):
        error = await refused(stub, type_name, request)
        assert error.code() == StatusCode.NOT_FOUND, request
        assert "nowhere" in (error.details() or "")


@pytest.mark.usefixtures("seeded")
async def test_an_undefined_type_in_a_closed_namespace_is_not_found(
    stub: StateAsyncStub, type_name: str
) -> None:
    for type in (type_name, NAMESPACES_TYPE):
        for request in every_rpc(CLOSED_NS, type):
            error = await refused(stub, type_name, request)
            assert error.code() == StatusCode.NOT_FOUND, request


@pytest.mark.usefixtures("seeded")
async def test_writes_to_the_meta_namespace_are_permission_denied(
    stub: StateAsyncStub, type_name: str
) -> None:
    [meta] = [
        r for r in await list_resources(stub, NAMESPACES_TYPE, ns=META_NS) if r.metadata.id == NS
    ]
    pointer = {"namespace": META_NS, "type": NAMESPACES_TYPE, "id": NS}
    for owner in ("", "meta"):
        new = make_resource("new", NAMESPACES_TYPE, ns=META_NS)
        for request in (
            create_request(new, owner=owner),
            update_request(changed(meta, labels={"x": "y"}), owner=owner),
            state_pb2.DestroyRequest(**pointer, options=state_pb2.DestroyOptions(owner=owner)),
            state_pb2.TeardownRequest(**pointer, options=state_pb2.TeardownOptions(owner=owner)),
            state_pb2.TeardownAndDestroyRequest(
                **pointer, options=state_pb2.TeardownAndDestroyOptions(owner=owner)
            ),
        ):
            error = await refused(stub, type_name, request)
            assert error.code() == StatusCode.PERMISSION_DENIED, request
    assert (await get(stub, NAMESPACES_TYPE, NS, ns=META_NS)) == meta


@pytest.mark.usefixtures("seeded")
async def test_an_unknown_method_is_unimplemented(
    stub: StateAsyncStub, channel: grpc.aio.Channel, type_name: str
) -> None:
    async with unchanged(stub, type_name):
        error = await rpc_error(raw_call(channel, "Patch", b""))

    assert error.code() == StatusCode.UNIMPLEMENTED
