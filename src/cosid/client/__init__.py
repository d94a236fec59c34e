"""A small synchronous client library for cosid: the State API over the store's model types,
and the typed domain services."""

from cosid.client.client import Client
from cosid.client.definitions import TypeDefinition
from cosid.client.endpoint import ENDPOINT_ENV, dial, resolve_endpoint
from cosid.client.tls import ClientTls, ClientTlsError, resolve_tls
from cosid.client.typed import TypedClient
from cosid.client.watch import EventStream
from cosid.endpoint import DEFAULT_ENDPOINT, EndpointError

__all__ = [
    "DEFAULT_ENDPOINT",
    "ENDPOINT_ENV",
    "Client",
    "ClientTls",
    "ClientTlsError",
    "EndpointError",
    "EventStream",
    "TypeDefinition",
    "TypedClient",
    "dial",
    "resolve_endpoint",
    "resolve_tls",
]
