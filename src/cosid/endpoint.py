"""Addresses of the daemon's unix socket, as both the daemon and its clients spell them."""

from __future__ import annotations

from pathlib import Path

DEFAULT_ENDPOINT = "unix:///run/cosid/cosid.sock"


class EndpointError(ValueError):
    """An address that is not an absolute unix socket path; the message names it."""


def unix_socket_path(address: str) -> Path:
    """`unix:///run/x.sock`, `unix:/run/x.sock` or `/run/x.sock` -> the absolute path.

    Only unix sockets: TCP is served only with mutual TLS, and an insecure TCP channel must
    never be a silent fallback.
    """
    path = address.removeprefix("unix://").removeprefix("unix:")
    if not path.startswith("/") or not path.strip("/"):
        raise EndpointError(f"endpoint {address!r} is not a unix socket (unix:///path/to/socket)")
    return Path(path)
