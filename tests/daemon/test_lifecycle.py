"""The daemon process: what survives a crash, what the meta namespace holds, clean shutdown,
the socket's ownership, and the request log."""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
import yaml

from cosid.api.cosi.resource import resource_pb2, state_pb2
from cosid.api.cosi.resource.meta import meta_pb2
from cosid.daemon.config import Config
from cosid.daemon.domains import build_domains
from tests.support.daemon import TEST_NAMESPACES, Daemon, daemon_config, running_daemon
from tests.support.wire import (
    META_NS,
    NAMESPACES_TYPE,
    NS,
    RESOURCE_DEFINITIONS_TYPE,
    SCRATCH_NS,
    changed,
    connect,
    create,
    destroy,
    get,
    ids,
    kind_watch,
    list_resources,
    make_resource,
    single_watch,
    status_code,
    summary,
    teardown,
    update,
    watching,
)

if TYPE_CHECKING:
    from cosid.api.cosi.resource.state_pb2_grpc import StateAsyncStub

TYPE = "Lifecycles.test.cosi.dev"
OTHER_TYPE = "Others.test.cosi.dev"


async def everything(stub: StateAsyncStub) -> dict[tuple[str, str], list[resource_pb2.Resource]]:
    return {
        (ns, type): await list_resources(stub, type, ns=ns)
        for ns in (NS, SCRATCH_NS)
        for type in (TYPE, OTHER_TYPE)
    }


async def populate(stub: StateAsyncStub) -> None:
    """Resources of two types in both open namespaces, created, updated and destroyed."""
    for ns in (NS, SCRATCH_NS):
        a = await create(
            stub,
            make_resource(
                "a/with/slashes",
                TYPE,
                ns=ns,
                labels={"app": "web"},
                annotations={"note": "ünïcode"},
                proto_spec=b"\x00\x01\xff",
                yaml_spec="spec: a\n",
            ),
            owner="ctl",
        )
        a = await update(stub, changed(a, labels={"app": "web", "v": "2"}), owner="ctl")
        await update(stub, changed(a, finalizers=["keep"], phase="tearingDown"), owner="ctl")
        await create(stub, make_resource("b", TYPE, ns=ns))
        await create(stub, make_resource("gone", TYPE, ns=ns))
        await destroy(stub, TYPE, "gone", ns=ns)
        await create(stub, make_resource("x", OTHER_TYPE, ns=ns, proto_spec=bytes(range(256))))


# --- Persistence ---------------------------------------------------------------------------------


async def test_durable_resources_survive_sigkill_whole(daemon: Daemon) -> None:
    async with connect(daemon.endpoint) as stub:
        await populate(stub)
        before = await everything(stub)
    assert [r.metadata.version for r in before[NS, TYPE]] == ["3", "1"]

    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    daemon.start()

    async with connect(daemon.endpoint) as stub:
        assert (await everything(stub))[NS, TYPE] == before[NS, TYPE]
        assert (await everything(stub))[NS, OTHER_TYPE] == before[NS, OTHER_TYPE]
        assert await status_code(get(stub, TYPE, "gone")) == grpc.StatusCode.NOT_FOUND
        a = await get(stub, TYPE, "a/with/slashes")
        assert (await update(stub, a, owner="ctl")).metadata.version == "4"


async def test_in_memory_namespaces_are_empty_after_a_restart(daemon: Daemon) -> None:
    async with connect(daemon.endpoint) as stub:
        await populate(stub)
        assert ids((await everything(stub))[SCRATCH_NS, TYPE]) == ["a/with/slashes", "b"]

    assert daemon.stop() == 0
    daemon.start()

    async with connect(daemon.endpoint) as stub:
        after = await everything(stub)
        assert after[SCRATCH_NS, TYPE] == []
        assert after[SCRATCH_NS, OTHER_TYPE] == []
        assert ids(after[NS, TYPE]) == ["a/with/slashes", "b"]
        recreated = await create(stub, make_resource("b", TYPE, ns=SCRATCH_NS))
        assert recreated.metadata.version == "1"


# --- The meta namespace --------------------------------------------------------------------------

EXPECTED_DEFINITIONS = {
    "namespaces.meta.cosi.dev": meta_pb2.ResourceDefinitionSpec(
        resource_type=NAMESPACES_TYPE,
        display_type="Namespace",
        default_namespace=META_NS,
        aliases=["ns", "namespace"],
        all_aliases=["namespaces", "namespaces.meta", "namespaces.meta.cosi", "ns", "namespace"],
    ),
    "resourcedefinitions.meta.cosi.dev": meta_pb2.ResourceDefinitionSpec(
        resource_type=RESOURCE_DEFINITIONS_TYPE,
        display_type="ResourceDefinition",
        default_namespace=META_NS,
        aliases=["api-resources", "resourcedefinition", "rd", "rds"],
        all_aliases=[
            "resourcedefinitions",
            "resourcedefinitions.meta",
            "resourcedefinitions.meta.cosi",
            "api-resources",
            "resourcedefinition",
            "rd",
            "rds",
        ],
        print_columns=[
            meta_pb2.ResourceDefinitionSpec.PrintColumn(name="Aliases", json_path="{.aliases[:]}")
        ],
    ),
}


_DOMAINS = build_domains(Config())
BUILT_IN_NAMESPACES = {namespace.name for namespace in _DOMAINS.namespaces}
"""Every namespace the daemon's domains define (the test checks meta publishes them all)."""
BUILT_IN_DEFINITIONS = {
    *EXPECTED_DEFINITIONS,
    *(definition.id for definition in _DOMAINS.definitions),
}


def check_meta(
    namespaces: list[resource_pb2.Resource], definitions: list[resource_pb2.Resource]
) -> None:
    descriptions = {str(ns["name"]): str(ns["description"]) for ns in TEST_NAMESPACES}
    descriptions[META_NS] = "Metadata namespace which contains resource and namespace definitions."
    listed = {}
    for namespace in namespaces:
        description = meta_pb2.NamespaceSpec.FromString(namespace.spec.proto_spec).description
        assert yaml.safe_load(namespace.spec.yaml_spec) == {"description": description}
        listed[namespace.metadata.id] = description
    assert descriptions.items() <= listed.items(), "every configured namespace, as configured"
    assert set(listed) - set(descriptions) == BUILT_IN_NAMESPACES
    by_id = {d.metadata.id: d for d in definitions}
    assert ids(definitions) == sorted(by_id)
    assert set(by_id) >= BUILT_IN_DEFINITIONS
    for definition_id, expected in EXPECTED_DEFINITIONS.items():
        spec = meta_pb2.ResourceDefinitionSpec.FromString(by_id[definition_id].spec.proto_spec)
        assert spec == expected
    for definition in definitions:
        spec = meta_pb2.ResourceDefinitionSpec.FromString(definition.spec.proto_spec)
        assert definition.metadata.id == spec.resource_type.lower()
        document = yaml.safe_load(definition.spec.yaml_spec)
        assert (document["type"], document["aliases"]) == (spec.resource_type, list(spec.aliases))
    for resource in (*namespaces, *definitions):
        metadata = resource.metadata
        assert (metadata.namespace, metadata.owner, metadata.version) == (META_NS, "meta", "1")


async def test_meta_lists_every_namespace_and_type_across_restarts(
    daemon: Daemon,
) -> None:
    for _ in range(2):
        async with connect(daemon.endpoint) as stub:
            namespaces = await list_resources(stub, NAMESPACES_TYPE, ns=META_NS)
            definitions = await list_resources(stub, RESOURCE_DEFINITIONS_TYPE, ns=META_NS)
            check_meta(namespaces, definitions)
            one = await get(stub, RESOURCE_DEFINITIONS_TYPE, "namespaces.meta.cosi.dev", ns=META_NS)
            assert one == next(d for d in definitions if d.metadata.id == one.metadata.id)
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        daemon.start()


# --- Shutdown and the socket ---------------------------------------------------------------------


@pytest.fixture
def patient_daemon() -> Iterator[Daemon]:
    """A daemon whose shutdown grace is far longer than any shutdown should take."""
    with running_daemon(shutdown_grace_seconds=60) as started:
        yield started


async def test_sigterm_ends_in_flight_calls_and_exits_cleanly(patient_daemon: Daemon) -> None:
    daemon = patient_daemon
    async with connect(daemon.endpoint) as stub:
        await create(stub, make_resource("a", TYPE))
        await create(stub, make_resource("held", TYPE, finalizers=["f"]))
        async with (
            watching(stub, kind_watch(TYPE, bootstrap_contents=True)) as kind,
            watching(stub, single_watch(TYPE, "a")) as single,
        ):
            await kind.events(3)
            await single.event()
            waiting = asyncio.ensure_future(
                stub.TeardownAndDestroy(
                    state_pb2.TeardownAndDestroyRequest(namespace=NS, type=TYPE, id="held")
                )
            )
            assert summary([await kind.event()]) == [("UPDATED", "held", "2")]
            assert daemon.process is not None
            started = time.monotonic()
            daemon.process.send_signal(signal.SIGTERM)

            kind_end = await kind.ended(within=5.0)
            single_end = await single.ended(within=5.0)
            waiting_code = await status_code(asyncio.wait_for(waiting, 5.0))
            ended_after = time.monotonic() - started

    assert daemon.stop() == 0, daemon.output()[-3000:]
    assert kind_end == ([], grpc.StatusCode.UNAVAILABLE), "clients reconnect on UNAVAILABLE"
    assert single_end == ([], grpc.StatusCode.UNAVAILABLE)
    assert waiting_code == grpc.StatusCode.UNAVAILABLE
    assert ended_after < 10.0, "in-flight calls end at once, not after the grace period"
    assert not daemon.socket.exists()
    events = [record.get("event") for record in daemon.log_records()]
    assert events[-1] == "stopped"
    assert "shutting down" in events


async def test_a_stale_socket_file_does_not_stop_start_up(daemon: Daemon) -> None:
    async with connect(daemon.endpoint) as stub:
        await create(stub, make_resource("a", TYPE))
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    assert daemon.socket.is_socket(), "SIGKILL leaves the socket file behind"

    daemon.start()

    async with connect(daemon.endpoint) as stub:
        assert (await get(stub, TYPE, "a")).metadata.version == "1"


@pytest.fixture
def second_workdir() -> Iterator[Path]:
    workdir = Path(tempfile.mkdtemp(prefix="cosid-"))
    yield workdir
    shutil.rmtree(workdir, ignore_errors=True)


async def test_a_second_daemon_on_a_live_socket_fails_clearly(
    daemon: Daemon, second_workdir: Path
) -> None:
    config = daemon_config(second_workdir, listen=daemon.endpoint)
    second = Daemon(second_workdir, config)

    second.start(wait=False)
    assert second.process is not None
    exit_code = second.process.wait(timeout=15)

    assert exit_code != 0
    assert f"another daemon is already serving on {daemon.socket}" in second.output()
    assert daemon.socket.is_socket()
    async with connect(daemon.endpoint) as stub:
        assert await create(stub, make_resource("still-serving", TYPE))


async def test_a_daemon_refuses_to_replace_a_file_that_is_not_a_socket(
    second_workdir: Path,
) -> None:
    config = daemon_config(second_workdir)
    (second_workdir / "cosid.sock").write_text("precious")
    daemon = Daemon(second_workdir, config)

    daemon.start(wait=False)
    assert daemon.process is not None
    exit_code = daemon.process.wait(timeout=15)

    assert exit_code != 0
    assert "exists and is not a socket" in daemon.output()
    assert (second_workdir / "cosid.sock").read_text() == "precious"


# --- The request log -----------------------------------------------------------------------------


async def logged(daemon: Daemon, **fields: str) -> None:
    """Wait (a little) until the daemon has logged a request line with these fields."""
    for _ in range(100):
        for record in daemon.log_records():
            if record.get("event") == "request" and fields.items() <= record.items():
                return
        await asyncio.sleep(0.02)
    pytest.fail(f"no request line with {fields} in the log")


async def test_the_daemon_logs_one_request_line_per_mutation(daemon: Daemon) -> None:
    async with connect(daemon.endpoint) as stub:
        a = await create(stub, make_resource("a/b", TYPE), owner="ctl")
        await get(stub, TYPE, "a/b")
        await list_resources(stub, TYPE)
        await update(stub, changed(a, labels={"x": "y"}), owner="ctl")
        await status_code(update(stub, a, owner="ctl"))
        await teardown(stub, TYPE, "a/b", owner="ctl")
        await status_code(destroy(stub, TYPE, "a/b", owner="intruder"))
        await destroy(stub, TYPE, "a/b", owner="ctl")
        await create(stub, make_resource("held", TYPE, finalizers=["f"]))
        request = state_pb2.TeardownAndDestroyRequest(namespace=NS, type=TYPE, id="held")
        timed_out = await status_code(stub.TeardownAndDestroy(request, timeout=0.2))
        assert timed_out == grpc.StatusCode.DEADLINE_EXCEEDED
    await logged(daemon, rpc="TeardownAndDestroy")  # before shutdown could end the call
    assert daemon.stop() == 0

    requests = [
        record
        for record in daemon.log_records()
        if record.get("event") == "request" and record.get("level") == "info"
    ]

    resource = f"{NS}/{TYPE}/a/b"
    assert [(r["rpc"], r.get("resource"), r["code"]) for r in requests] == [
        ("Create", resource, "OK"),
        ("Update", resource, "OK"),
        ("Update", resource, "FAILED_PRECONDITION"),
        ("Teardown", resource, "OK"),
        ("Destroy", resource, "PERMISSION_DENIED"),
        ("Destroy", resource, "OK"),
        ("Create", f"{NS}/{TYPE}/held", "OK"),
        ("TeardownAndDestroy", f"{NS}/{TYPE}/held", "CANCELLED"),
    ]
    assert all(isinstance(r["duration_ms"], float | int) for r in requests)
    assert "error" in requests[2]
