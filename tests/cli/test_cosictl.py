"""The real `cosictl` console script, run as a subprocess against a real daemon.

Tests that write work on their own kind (`kind`), so they share one daemon safely.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

import pytest
import yaml

from cosid.client import Client
from cosid.state.resource import Kind, Metadata, Resource, Spec
from tests.cli.process import COSICTL, RUN_TIMEOUT, cosictl, environment
from tests.support.daemon import Daemon

LINE_TIMEOUT = 5.0

NAMESPACES_TABLE = """\
NAMESPACE   TYPE        ID         VERSION
meta        Namespace   closed     1
meta        Namespace   default    1
meta        Namespace   dns        1
meta        Namespace   hostname   1
meta        Namespace   meta       1
meta        Namespace   modules    1
meta        Namespace   motd       1
meta        Namespace   mounts     1
meta        Namespace   network    1
meta        Namespace   runtime    1
meta        Namespace   scratch    1
meta        Namespace   sysctl     1
"""


def ok(*args: str, env_endpoint: str | None = None) -> str:
    """stdout of a run that must succeed quietly."""
    run = cosictl(*args, env_endpoint=env_endpoint)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    return run.stdout


def failure(*args: str) -> str:
    """The one stderr line of a run that must fail with status 1 and print nothing else."""
    run = cosictl(*args)
    assert run.returncode == 1, run
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr  # one line: no traceback
    return run.stderr.rstrip("\n")


def greeting(kind: Kind, id: str, text: str) -> Resource:
    return Resource(Metadata(kind.namespace, kind.type, id), Spec(yaml=f"text: {text}\n"))


class Lines:
    """A subprocess's output read line by line, each read failing the test when late."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def next(self, timeout: float = LINE_TIMEOUT) -> str:
        line = self.poll(timeout)
        if line is None:
            pytest.fail(f"cosictl printed no line within {timeout}s")
        return line

    def poll(self, timeout: float) -> str | None:
        """The next line, or None if none comes in time; fails if the output ended."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return None
        assert line is not None, "cosictl's output ended"
        return line.rstrip("\n")


@contextmanager
def watching(daemon: Daemon, *args: str) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """`cosictl watch ARGS` running; terminated when the block ends (if still running)."""
    process = subprocess.Popen(
        [str(COSICTL), "--endpoint", daemon.endpoint, "watch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(None),
    )
    try:
        assert process.stdout is not None
        yield process, Lines(process.stdout)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(RUN_TIMEOUT)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_get_prints_a_table_of_the_meta_namespaces(shared_daemon: Daemon) -> None:
    assert ok("--endpoint", shared_daemon.endpoint, "get", "namespaces") == NAMESPACES_TABLE


@pytest.mark.parametrize("name", ["ns", "NS", "namespace", "Namespaces.meta.cosi.dev"])
def test_get_resolves_short_names_and_aliases(shared_daemon: Daemon, name: str) -> None:
    assert ok("--endpoint", shared_daemon.endpoint, "get", name) == NAMESPACES_TABLE


def test_get_prints_the_print_columns_of_the_type(shared_daemon: Daemon) -> None:
    lines = ok("--endpoint", shared_daemon.endpoint, "get", "rd").splitlines()
    meta_rows = [lines[0], *(line for line in lines[1:] if ".meta.cosi.dev" in line)]
    assert [line.split() for line in meta_rows] == [
        ["NAMESPACE", "TYPE", "ID", "VERSION", "ALIASES"],
        ["meta", "ResourceDefinition", "namespaces.meta.cosi.dev", "1", "ns", "namespace"],
        [
            "meta",
            "ResourceDefinition",
            "resourcedefinitions.meta.cosi.dev",
            "1",
            *["api-resources", "resourcedefinition", "rd", "rds"],
        ],
    ]
    header = lines[0]
    assert all(line.index("1") == header.index("VERSION") for line in lines[1:])  # aligned


def test_get_one_resource_as_yaml(shared_daemon: Daemon) -> None:
    output = ok("--endpoint", shared_daemon.endpoint, "get", "ns", "default", "-o", "yaml")
    assert output.startswith("---\nmetadata:\n  namespace: meta\n")
    (document,) = yaml.safe_load_all(output)
    metadata = document["metadata"]
    created = datetime.fromisoformat(metadata.pop("created"))
    assert created.tzinfo is not None
    assert metadata.pop("updated") is not None
    assert metadata == {
        "namespace": "meta",
        "type": "Namespaces.meta.cosi.dev",
        "id": "default",
        "version": 1,
        "owner": "meta",
        "phase": "running",
        "labels": {},
        "annotations": {},
        "finalizers": [],
    }
    assert document["spec"] == {"description": "open and durable"}


def test_get_as_json_prints_one_object_per_line(shared_daemon: Daemon, kind: Kind) -> None:
    with Client.connect(shared_daemon.endpoint) as client:
        client.create(greeting(kind, "plain", "hello"))
        for id, spec in [("opaque", "a: ["), ("dated", "2024-01-01: {1: new year}\n")]:
            client.create(Resource(Metadata(kind.namespace, kind.type, id), Spec(yaml=spec)))
    lines = ok("--endpoint", shared_daemon.endpoint, "get", kind.type, "-o", "json").splitlines()
    documents = [json.loads(line) for line in lines]
    assert [(d["metadata"]["id"], d["spec"]) for d in documents] == [
        ("dated", {"2024-01-01": {"1": "new year"}}),  # YAML keys JSON lacks become text
        ("opaque", "a: ["),  # not YAML: printed as the text it is
        ("plain", {"text": "hello"}),
    ]
    assert documents[0]["metadata"]["namespace"] == "default"  # the fallback namespace


def test_get_of_a_missing_resource_says_not_found(shared_daemon: Daemon) -> None:
    message = failure("--endpoint", shared_daemon.endpoint, "get", "ns", "nowhere")
    assert message.startswith("cosictl: NOT_FOUND: "), message
    assert "nowhere" in message


def test_an_unreachable_daemon_names_the_endpoint(tmp_path: Path) -> None:
    endpoint = f"unix://{tmp_path}/missing.sock"
    message = failure("--endpoint", endpoint, "get", "ns")
    assert message.startswith(f"cosictl: UNAVAILABLE: cosid at {endpoint} is unavailable: "), (
        message
    )


def test_an_endpoint_that_is_not_a_unix_socket_is_refused() -> None:
    message = failure("--endpoint", "localhost:50051", "get", "ns")
    assert (
        message
        == "cosictl: endpoint 'localhost:50051' is not a unix socket (unix:///path/to/socket)"
    )


def test_the_endpoint_comes_from_the_environment_unless_given(
    shared_daemon: Daemon, tmp_path: Path
) -> None:
    assert ok("get", "ns", env_endpoint=shared_daemon.endpoint) == NAMESPACES_TABLE
    missing = f"unix://{tmp_path}/missing.sock"
    assert (
        ok("--endpoint", shared_daemon.endpoint, "get", "ns", env_endpoint=missing)
        == NAMESPACES_TABLE
    )


def test_a_closed_stdout_ends_quietly(shared_daemon: Daemon) -> None:
    process = subprocess.Popen(
        [str(COSICTL), "--endpoint", shared_daemon.endpoint, "get", "rd"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before cosictl writes a byte
    _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    assert (process.returncode, stderr) == (1, "")


def test_watch_prints_changes_as_they_happen_and_ctrl_c_ends_it(
    shared_daemon: Daemon, kind: Kind
) -> None:
    with (
        watching(shared_daemon, kind.type) as (process, lines),
        Client.connect(shared_daemon.endpoint) as client,
    ):
        created = client.create(greeting(kind, "hello", "hello"))
        header = lines.next()
        assert header.split() == ["EVENT", "NAMESPACE", "TYPE", "ID", "VERSION"]
        # Seen live or as the bootstrap: either way the watch is set up from here on.
        events = [lines.next()]
        updated = client.update(Resource(created.metadata, Spec(yaml="text: hi\n")))
        events.append(lines.next())
        client.destroy(updated.pointer)
        events.append(lines.next())
        assert [line.split() for line in events] == [
            ["CREATED", "default", kind.type, "hello", "1"],
            ["UPDATED", "default", kind.type, "hello", "2"],
            ["DESTROYED", "default", kind.type, "hello", "2"],
        ]
        namespace_column = header.index("NAMESPACE")
        assert [line.index("default") for line in events] == [namespace_column] * 3  # aligned

        process.send_signal(signal.SIGINT)
        assert process.wait(RUN_TIMEOUT) == 130
        assert process.stderr is not None
        assert process.stderr.read() == ""


def test_watch_bootstraps_with_what_exists(shared_daemon: Daemon, kind: Kind) -> None:
    with Client.connect(shared_daemon.endpoint) as client:
        client.create(greeting(kind, "old", "hello"))
        with watching(shared_daemon, kind.type, "-o", "json") as (_, lines):
            first = json.loads(lines.next())
            assert (first["event"], first["metadata"]["id"]) == ("CREATED", "old")
            client.create(greeting(kind, "new", "hi"))
            second = json.loads(lines.next())
            assert (second["event"], second["metadata"]["id"]) == ("CREATED", "new")
            assert second["spec"] == {"text": "hi"}


@pytest.mark.parametrize("target", [[], ["old"]], ids=["kind", "one-resource"])
def test_watch_without_bootstrap_prints_only_changes(
    shared_daemon: Daemon, kind: Kind, target: list[str]
) -> None:
    with Client.connect(shared_daemon.endpoint) as client:
        old = client.create(greeting(kind, "old", "v1"))
        args = [kind.type, *target, "--no-bootstrap", "-o", "json"]
        with watching(shared_daemon, *args) as (_, lines):
            # Nothing shows when the watch is set up, so keep changing until something does:
            # with no bootstrap, the first line must be a change, never the existing state.
            for attempt in range(50):
                old = client.update(Resource(old.metadata, Spec(yaml=f"text: v{attempt}\n")))
                line = lines.poll(timeout=0.1)
                if line is not None:
                    break
            else:
                pytest.fail("the watch printed nothing")
            event = json.loads(line)
            assert event["event"] == "UPDATED"
            assert event["metadata"]["id"] == "old"
            assert event["metadata"]["version"] >= 2


def test_watch_tells_when_the_daemon_ends_it(daemon: Daemon) -> None:
    with watching(daemon, "ns") as (process, lines):
        assert lines.next().split()[0] == "EVENT"  # the bootstrap: the watch is set up
        daemon.stop()
        assert process.wait(RUN_TIMEOUT) == 1
        assert process.stderr is not None
        assert process.stderr.read() == (
            f"cosictl: UNAVAILABLE: cosid at {daemon.endpoint} is unavailable: "
            "the daemon is shutting down\n"
        )


def test_delete_waits_for_the_finalizers_then_removes(shared_daemon: Daemon, kind: Kind) -> None:
    with Client.connect(shared_daemon.endpoint) as client:
        created = client.create(
            Resource(Metadata(kind.namespace, kind.type, "held", finalizers=("ctl",)), Spec())
        )
        deleting = subprocess.Popen(
            [str(COSICTL), "--endpoint", shared_daemon.endpoint, "delete", kind.type, "held"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for _ in range(100):  # the delete tore it down: now it waits for "ctl" to go
                torn = client.get(created.pointer)
                if torn.metadata.phase == "tearingDown":
                    break
                threading.Event().wait(0.02)
            assert deleting.poll() is None, "delete returned before the finalizer was removed"
            client.update(torn.with_metadata(finalizers=()))
            stdout, stderr = deleting.communicate(timeout=RUN_TIMEOUT)
        finally:
            deleting.kill()
    assert (deleting.returncode, stderr) == (0, "")
    assert stdout == f"deleted {created.pointer}\n"
    assert ok("--endpoint", shared_daemon.endpoint, "get", kind.type).count("\n") == 1  # header


def test_deleting_what_does_not_exist_says_so(shared_daemon: Daemon, kind: Kind) -> None:
    message = failure("--endpoint", shared_daemon.endpoint, "delete", kind.type, "nothing")
    assert message == f"cosictl: NOT_FOUND: resource {kind}/nothing doesn't exist"


def test_get_and_watch_select_by_labels(shared_daemon: Daemon, kind: Kind) -> None:
    with Client.connect(shared_daemon.endpoint) as client:
        for id, labels in [("red", {"color": "red"}), ("blue", {"color": "blue"}), ("bare", {})]:
            metadata = Metadata(kind.namespace, kind.type, id, labels=labels)
            client.create(Resource(metadata, Spec(yaml="{}")))

    def ids(*selector: str) -> list[str]:
        lines = ok("--endpoint", shared_daemon.endpoint, "get", kind.type, *selector, "-o", "json")
        return [json.loads(line)["metadata"]["id"] for line in lines.splitlines()]

    assert ids("-l", "color=red") == ["red"]
    assert ids("-l", "color!=red") == ["bare", "blue"]  # a missing label is not red either
    assert ids("--selector", "color") == ["blue", "red"]
    assert ids("-l", "!color") == ["bare"]
    assert ids("-l", "color=red,color=blue") == []
    with watching(shared_daemon, kind.type, "-l", "color=blue", "-o", "json") as (_, lines):
        assert json.loads(lines.next())["metadata"]["id"] == "blue"
        assert lines.poll(0.3) is None  # red and bare are not shown
    refused = cosictl("--endpoint", shared_daemon.endpoint, "get", kind.type, "-l", "a=b,=c")
    assert refused.returncode == 2
    assert "'=c' is not a selector term" in refused.stderr
