"""Talking to the typed services (cosi.<domain>.v1alpha1) of a real daemon in tests."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_status import rpc_status

from cosid.api.cosi.common.v1alpha1 import common_pb2
from cosid.resources.typed import TypedApi
from tests.support.daemon import Daemon


@dataclass
class TypedStub:
    """Calls one domain's service with its own message classes, found from its descriptor."""

    channel: grpc.aio.Channel
    api: TypedApi

    def _method(self, name: str) -> str:
        return f"/{self.api.service.full_name}/{name}"

    async def unary(self, name: str, request: Message, deadline: float = 10.0) -> Any:
        call = self.channel.unary_unary(
            self._method(name),
            request_serializer=type(request).SerializeToString,
            response_deserializer=self.api.response_message(name).FromString,
        )
        return await call(request, timeout=deadline)

    def stream(self, name: str, request: Message, timeout: float | None = None) -> Any:
        call = self.channel.unary_stream(
            self._method(name),
            request_serializer=type(request).SerializeToString,
            response_deserializer=self.api.response_message(name).FromString,
        )
        return call(request, timeout=timeout)

    def item(
        self,
        spec: Mapping[str, Any] | None = None,
        *,
        id: str = "",
        version: int = 0,
        labels: Mapping[str, str] | None = None,
    ) -> Message:
        meta = common_pb2.ObjectMeta(id=id, version=version, labels=dict(labels or {}))
        if spec is None:
            return self.api.resource(metadata=meta)
        return self.api.resource(metadata=meta, spec=self.api.spec_message_class(**spec))

    async def apply(
        self,
        *items: Message,
        dry_run: bool = False,
        wait: bool = False,
        wait_timeout: float | None = None,
        deadline: float = 10.0,
    ) -> Any:
        options = common_pb2.ApplyOptions(dry_run=dry_run, wait=wait)
        if wait_timeout is not None:
            options.wait_timeout.FromTimedelta(timedelta(seconds=wait_timeout))
        request = self.api.request_message("Apply")(items=items, options=options)
        return await self.unary("Apply", request, deadline)

    async def get(self, id: str) -> Any:
        return await self.unary("Get", common_pb2.GetRequest(id=id))

    async def list(self, **request: Any) -> list[Any]:
        return [item async for item in self.stream("List", common_pb2.ListRequest(**request))]

    async def delete(self, id: str, deadline: float = 10.0) -> None:
        await self.unary("Delete", common_pb2.DeleteRequest(id=id), deadline)


@asynccontextmanager
async def typed_stub(daemon: Daemon, api: TypedApi) -> AsyncIterator[TypedStub]:
    async with typed_stub_at(daemon.endpoint, api) as stub:
        yield stub


@asynccontextmanager
async def typed_stub_at(target: str, api: TypedApi) -> AsyncIterator[TypedStub]:
    """A stub on a plain channel to `target` (a unix socket, or the test VM's forwarded port)."""
    async with grpc.aio.insecure_channel(target) as channel:
        yield TypedStub(channel, api)


def status_details(error: grpc.aio.AioRpcError, message_class: type[Message]) -> list[Any]:
    """The detail messages of `message_class` a failed call's status carries."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the status carries no details"
    found = []
    for detail in status.details:
        if detail.Is(message_class.DESCRIPTOR):
            message = message_class()
            detail.Unpack(message)
            found.append(message)
    return found


def in_daemon_namespaces(daemon: Daemon, flags: str, *command: str) -> str:
    """Run `command` in the daemon's namespaces (`-n` network, `-u` UTS, ...)."""
    assert daemon.process is not None
    return subprocess.run(
        ["nsenter", "-t", str(daemon.process.pid), flags, *command],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
