"""Where the daemon listens: an explicit endpoint, else $COSID_ENDPOINT, else the system socket;
and the channel to it: plain on a unix socket, mutual TLS on TCP (never plain TCP)."""

from __future__ import annotations

import os

import grpc

from cosid.client.tls import ClientTls
from cosid.endpoint import DEFAULT_ENDPOINT, EndpointError, unix_socket_path
from cosid.tcp_endpoint import is_tcp, tcp_target

ENDPOINT_ENV = "COSID_ENDPOINT"


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The endpoint to dial, always in the `unix:///path` or `tcp://host:port` form."""
    chosen = endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
    if is_tcp(chosen):
        tcp_target(chosen)  # refuses a malformed address now, not at the first call
        return chosen
    return f"unix://{unix_socket_path(chosen)}"


def dial(endpoint: str, tls: ClientTls | None = None) -> grpc.Channel:
    """A channel to a resolved endpoint; TCP needs `tls` (a unix socket ignores it)."""
    if not is_tcp(endpoint):
        return grpc.insecure_channel(endpoint)
    if tls is None:
        raise EndpointError(
            f"endpoint {endpoint} is TCP, which cosid serves only with mutual TLS: "
            "give --cert, --key and --ca (or $COSID_CERT, $COSID_KEY and $COSID_CA)"
        )
    return grpc.secure_channel(tcp_target(endpoint), tls.credentials())
