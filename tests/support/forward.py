"""A TCP port of this process that leads to a port inside another network namespace.

A sandboxed daemon listens on TCP in a network namespace of its own, which this process's
sockets cannot reach. The forward listens on 127.0.0.1 here, and for every connection it
accepts opens one to the daemon's port from a thread that entered the daemon's namespace (a
socket belongs to the namespace of the thread that creates it), then copies bytes both ways.
TLS passes through untouched: the client and the daemon still shake hands with each other.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.daemon import Daemon

CLONE_NEWNET = 0x40000000
CHUNK = 65536


@contextmanager
def forwarded(daemon: Daemon, address: str) -> Iterator[int]:
    """A free port on 127.0.0.1 here that leads to the sandboxed daemon's TCP listener at
    `address` (`tcp://127.0.0.1:PORT`), for the block's duration."""
    assert daemon.process is not None, "started"
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    assert host == "127.0.0.1", "the forward leads to the daemon's loopback"
    with forwarded_port(daemon.process.pid, int(port)) as forward:
        yield forward


@contextmanager
def forwarded_port(pid: int, port: int) -> Iterator[int]:
    """A free port on 127.0.0.1 here that leads to 127.0.0.1:`port` in `pid`'s network
    namespace, for the block's duration."""
    listening = socket.create_server(("127.0.0.1", 0))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    thread = threading.Thread(target=_run, args=(loop, pid, started), daemon=True)
    thread.start()
    started.wait(10)
    try:
        server = asyncio.run_coroutine_threadsafe(_start(listening, port), loop).result(10)
        yield listening.getsockname()[1]
        asyncio.run_coroutine_threadsafe(_stop(server), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        listening.close()


def _run(loop: asyncio.AbstractEventLoop, pid: int, started: threading.Event) -> None:
    _enter_network_namespace(pid)
    asyncio.set_event_loop(loop)
    started.set()
    loop.run_forever()


async def _start(listening: socket.socket, port: int) -> asyncio.Server:
    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_copy(reader, upstream_writer), _copy(upstream_reader, writer))

    return await asyncio.start_server(connect, sock=listening)


async def _stop(server: asyncio.Server) -> None:
    server.close()
    copies = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in copies:
        task.cancel()
    await asyncio.gather(*copies, return_exceptions=True)


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.close()


def _enter_network_namespace(pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns: {os.strerror(error)}")
    finally:
        os.close(fd)
