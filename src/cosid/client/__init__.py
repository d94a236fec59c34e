"""A small synchronous client library for cosid: the State API over the store's model types,
and the typed domain services."""

from cosid.client.client import Client
from cosid.client.definitions import TypeDefinition
from cosid.client.endpoint import ENDPOINT_ENV, resolve_endpoint
from cosid.client.typed import TypedClient
from cosid.client.watch import EventStream
from cosid.endpoint import DEFAULT_ENDPOINT, EndpointError

__all__ = [
    "DEFAULT_ENDPOINT",
    "ENDPOINT_ENV",
    "Client",
    "EndpointError",
    "EventStream",
    "TypeDefinition",
    "TypedClient",
    "resolve_endpoint",
]
