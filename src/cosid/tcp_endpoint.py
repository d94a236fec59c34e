"""TCP addresses of the daemon, as both the daemon and its clients spell them: `tcp://host:port`.

TCP is served and dialled only with mutual TLS, so a TCP address is always spelled with its
scheme: a bare `host:port` is never taken for one, and never dialled in plain text.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cosid.endpoint import EndpointError

TCP_SCHEME = "tcp://"


def is_tcp(address: str) -> bool:
    return address.startswith(TCP_SCHEME)


def tcp_target(address: str) -> str:
    """`tcp://127.0.0.1:50051` -> `127.0.0.1:50051`, the form gRPC binds and dials
    (`tcp://[::1]:50051` -> `[::1]:50051`)."""
    invalid = EndpointError(f"endpoint {address!r} is not a TCP address (tcp://host:port)")
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:  # a port that is not a number, or beyond 65535
        raise invalid from None
    if (
        parts.scheme != "tcp"
        or not parts.hostname
        or not port
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise invalid
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"
