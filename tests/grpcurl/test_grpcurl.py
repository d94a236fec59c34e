"""The real grpcurl binary against a real daemon, knowing the API only through server reflection.

This is how an operator pokes at a node by hand, so it must keep working: services listed and
described, health checked, resources created, read and watched in JSON, and bad requests
explained with the field to fix.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from tests.grpcurl.tool import (
    GRPC_STATUS_EXIT_BASE,
    HEALTH,
    INVALID_ARGUMENT,
    REFLECTION,
    STATE,
    WATCH_SECONDS,
    Grpcurl,
    parse_messages,
    resource_json,
    streaming,
    timestamp,
)

pytestmark = pytest.mark.timeout(60)

# --- Reflection and health -----------------------------------------------------------------------


def test_list_shows_state_health_and_reflection(grpcurl_at: Grpcurl) -> None:
    services = grpcurl_at.ok("list").split()
    assert STATE in services
    assert HEALTH in services
    assert REFLECTION in services


def test_describe_state_shows_every_rpc(grpcurl_at: Grpcurl) -> None:
    description = grpcurl_at.ok("describe", STATE)
    assert f"{STATE} is a service" in description
    rpcs = dict(
        re.findall(r"rpc (\w+) \( \.cosi\.resource\.\w+ \) returns \( (stream )?", description)
    )
    assert rpcs == {
        "Get": "",
        "List": "stream ",
        "Create": "",
        "Update": "",
        "Destroy": "",
        "Watch": "stream ",
        "Teardown": "",
        "TeardownAndDestroy": "",
    }


def test_describe_resolves_message_fields_through_reflection(grpcurl_at: Grpcurl) -> None:
    description = grpcurl_at.ok("describe", "cosi.resource.WatchOptions")
    assert "bool bootstrap_contents = 1;" in description
    assert "int32 tail_events = 2;" in description


@pytest.mark.parametrize("service", ["", STATE])
def test_health_check_is_serving(grpcurl_at: Grpcurl, service: str) -> None:
    request = json.dumps({"service": service})
    reply = parse_messages(grpcurl_at.ok(f"{HEALTH}/Check", flags=["-d", request]))
    assert reply == [{"status": "SERVING"}]


# --- Resources in JSON ---------------------------------------------------------------------------


def test_create_get_list_in_json(grpcurl_at: Grpcurl) -> None:
    type_name = "Widgets.grpcurl.test.cosi.dev"
    sent = resource_json(type_name, "w/1", labels={"tier": "gold", "zone": "a"}, version="7")
    sent["metadata"]["annotations"] = {"note": "from grpcurl"}

    [created] = grpcurl_at.call("Create", {"resource": sent, "options": {"owner": "ops"}})
    metadata = created["resource"]["metadata"]
    assert metadata["version"] == "1"  # whatever was sent
    assert metadata["owner"] == "ops"
    assert metadata["phase"] == "running"
    assert metadata["labels"] == {"tier": "gold", "zone": "a"}
    assert metadata["annotations"] == {"note": "from grpcurl"}
    assert metadata["created"] == metadata["updated"]
    assert abs(timestamp(metadata["created"]).timestamp() - time.time()) < 60
    assert created["resource"]["spec"] == {"yaml_spec": "name: w/1\nreplicas: 3\n"}

    [got] = grpcurl_at.call("Get", {"namespace": "default", "type": type_name, "id": "w/1"})
    assert got == created

    other = resource_json(type_name, "w/0")
    grpcurl_at.call("Create", {"resource": other})
    listed = grpcurl_at.call("List", {"namespace": "default", "type": type_name})
    assert [reply["resource"]["metadata"]["id"] for reply in listed] == ["w/0", "w/1"]
    assert listed[1] == created
    assert listed[0]["resource"]["spec"]["yaml_spec"] == "name: w/0\nreplicas: 3\n"

    query = {"label_query": [{"terms": [{"key": "tier", "op": "EQUAL", "value": ["gold"]}]}]}
    queried = grpcurl_at.call("List", {"namespace": "default", "type": type_name, "options": query})
    assert queried == [created]


# --- Watch ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", [0, 1])
def test_watch_receives_a_create_made_during_the_watch(
    grpcurl_at: Grpcurl, api_version: int
) -> None:
    type_name = f"Gadgets{api_version}.grpcurl.test.cosi.dev"
    grpcurl_at.call("Create", {"resource": resource_json(type_name, "before")})
    request: dict[str, Any] = {
        "namespace": "default",
        "type": type_name,
        "options": {"bootstrap_contents": True},
    }
    if api_version:
        request["api_version"] = api_version
    flags = ["-emit-defaults", "-d", json.dumps(request)]

    with streaming(grpcurl_at, "Watch", flags, max_time=WATCH_SECONDS) as watch:
        assert watch.events() == []  # "ready"
        [bootstrapped] = watch.events()
        assert bootstrapped["event_type"] == "CREATED"
        assert bootstrapped["resource"]["metadata"]["id"] == "before"
        if api_version:  # older clients are not sent BOOTSTRAPPED
            [end_of_bootstrap] = watch.events()
            assert end_of_bootstrap["event_type"] == "BOOTSTRAPPED"
            assert end_of_bootstrap["bookmark"]

        [created] = grpcurl_at.call(
            "Create",
            {"resource": resource_json(type_name, "during", labels={"new": "yes"})},
            "-emit-defaults",  # as the watch prints it
        )

        [live] = watch.events()
        assert live["event_type"] == "CREATED"
        assert live["resource"] == created["resource"]
        assert live["resource"]["metadata"]["labels"] == {"new": "yes"}
        assert live["bookmark"]
        assert watch.process.poll() is None, "the watch ended early"


# --- Errors --------------------------------------------------------------------------------------


def test_invalid_request_shows_the_field_violation(grpcurl_at: Grpcurl) -> None:
    request = {"namespace": "default", "type": "Widgets.grpcurl.test.cosi.dev", "id": ""}
    done = grpcurl_at.run(f"{STATE}/Get", flags=["-d", json.dumps(request)])

    assert done.returncode == GRPC_STATUS_EXIT_BASE + INVALID_ARGUMENT, done.stderr
    assert "Code: InvalidArgument" in done.stderr
    assert "Message: id: must not be empty" in done.stderr
    details = [
        json.loads(match)
        for match in re.findall(r"^\s*\d+\)\s+(\{.*\})\s*$", done.stderr, re.MULTILINE)
    ]
    assert details == [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "field_violations": [{"field": "id", "description": "must not be empty"}],
        }
    ]
