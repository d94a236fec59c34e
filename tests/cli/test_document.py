"""The document `-o yaml` and `-o json` print for a resource."""

from __future__ import annotations

from cosid.cli.document import resource_document, rfc3339
from cosid.state.resource import Metadata, Phase, Pointer, Resource, Spec, tombstone


def test_timestamps_are_rfc3339_in_utc_to_the_nanosecond() -> None:
    assert rfc3339(None) is None
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert rfc3339(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"


def test_the_document_holds_all_metadata_and_the_parsed_spec() -> None:
    resource = Resource(
        Metadata(
            "default",
            "Greetings.example.org",
            "hello",
            version=7,
            owner="greeter",
            phase=Phase.TEARING_DOWN,
            created=0,
            updated=1_000_000_000,
            finalizers=("cleanup",),
            labels={"lang": "en"},
            annotations={"note": "x"},
        ),
        Spec(yaml="text: hello\nsizes: [1, 2]\n"),
    )
    assert resource_document(resource) == {
        "metadata": {
            "namespace": "default",
            "type": "Greetings.example.org",
            "id": "hello",
            "version": 7,
            "owner": "greeter",
            "phase": "tearingDown",
            "created": "1970-01-01T00:00:00Z",
            "updated": "1970-01-01T00:00:01Z",
            "labels": {"lang": "en"},
            "annotations": {"note": "x"},
            "finalizers": ["cleanup"],
        },
        "spec": {"text": "hello", "sizes": [1, 2]},
    }


def test_a_tombstone_has_no_version_and_no_spec() -> None:
    document = resource_document(tombstone(Pointer("default", "T", "gone")))
    metadata = document["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["version"] is None
    assert document["spec"] is None
