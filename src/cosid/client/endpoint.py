"""Where the daemon listens: an explicit endpoint, else $COSID_ENDPOINT, else the system socket."""

from __future__ import annotations

import os

ENDPOINT_ENV = "COSID_ENDPOINT"
DEFAULT_ENDPOINT = "unix:///run/cosid/cosid.sock"
"""The daemon's default listen address (`cosid.daemon.config.DEFAULT_LISTEN`); repeated here
so that a client never imports the daemon's configuration stack."""


class EndpointError(ValueError):
    """An endpoint this client cannot dial; the message names it."""


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The gRPC target to dial: `unix:///path` or `unix:/path`.

    Only unix sockets: the daemon serves TCP only with mutual TLS, which this client does not
    speak yet, and an insecure TCP channel must never be the silent fallback.
    """
    chosen = endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
    if not chosen.startswith("unix:") or not chosen.removeprefix("unix:").strip("/"):
        raise EndpointError(f"endpoint {chosen!r} is not a unix socket (unix:///path/to/socket)")
    return chosen
