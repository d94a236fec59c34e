"""Where the daemon listens: an explicit endpoint, else $COSID_ENDPOINT, else the system socket."""

from __future__ import annotations

import os

from cosid.endpoint import DEFAULT_ENDPOINT, unix_socket_path

ENDPOINT_ENV = "COSID_ENDPOINT"


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The gRPC target to dial, always in the `unix:///path` form."""
    chosen = endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
    return f"unix://{unix_socket_path(chosen)}"
