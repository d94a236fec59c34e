"""A real cosid process for tests and benchmarks: its own config, state dir and socket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cosid.api.cosi.resource import state_pb2_grpc

TEST_NAMESPACES = [
    {"name": "default", "description": "open and durable", "durable": True, "open": True},
    {"name": "scratch", "description": "open, in memory", "durable": False, "open": True},
    {"name": "closed", "description": "only defined types", "durable": True, "open": False},
]

START_TIMEOUT = 15.0


@dataclass
class Daemon:
    """A started daemon; `workdir` holds config, state and socket (short path: sun_path is 108)."""

    workdir: Path
    config: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ()
    """Command-line arguments after `--config`."""
    launcher: tuple[str, ...] = ()
    """A program (and its arguments) that runs the daemon's command line, which it is given
    after them: to start the daemon as another user, say."""
    _channels: list[grpc.Channel] = field(default_factory=list)

    @property
    def socket(self) -> Path:
        return self.workdir / "cosid.sock"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "cosid.log"

    def start(self, *, wait: bool = True) -> None:
        config_path = self.workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(self.config))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *self.launcher,
                    *(sys.executable, "-m", "cosid.daemon.main", "--config", str(config_path)),
                    *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_serving()

    def wait_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"cosid exited with {self.process.returncode}:\n{self.output()}")
            if self.socket.exists() and self._healthy():
                return
            time.sleep(0.05)
        raise RuntimeError(f"cosid did not start in {START_TIMEOUT}s:\n{self.output()}")

    def _healthy(self) -> bool:
        with grpc.insecure_channel(self.endpoint) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
            except grpc.RpcError:
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def channel(self) -> grpc.Channel:
        channel = grpc.insecure_channel(self.endpoint)
        self._channels.append(channel)
        return channel

    def state_stub(self) -> state_pb2_grpc.StateStub:
        return state_pb2_grpc.StateStub(self.channel())

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the daemon and wait for it; returns its exit code."""
        for channel in self._channels:
            channel.close()
        self._channels.clear()
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        """The daemon's JSON log lines (anything else it printed is skipped)."""
        records = []
        for line in self.output().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records


def daemon_config(workdir: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "listen": f"unix://{workdir / 'cosid.sock'}",
        "state_dir": str(workdir / "state"),
        "namespaces": TEST_NAMESPACES,
        "log_level": "debug",
        "shutdown_grace_seconds": 2,
    }
    config.update(overrides)
    return config


@contextmanager
def running_daemon(**overrides: Any) -> Iterator[Daemon]:
    """A daemon for the block's duration, in a fresh short-named directory."""
    with running_daemon_with(**overrides) as daemon:
        yield daemon


@contextmanager
def running_daemon_with(
    *, args: tuple[str, ...] = (), launcher: tuple[str, ...] = (), **overrides: Any
) -> Iterator[Daemon]:
    """`running_daemon`, started with these command-line `args` through this `launcher`."""
    workdir = Path(tempfile.mkdtemp(prefix="cosid-"))
    daemon = Daemon(workdir, daemon_config(workdir, **overrides), args=args, launcher=launcher)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        if os.environ.get("COSID_KEEP_TEST_DIRS") is None:
            shutil.rmtree(workdir, ignore_errors=True)
