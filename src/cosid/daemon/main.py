"""`cosid`: serve COSI on a unix socket until SIGTERM or SIGINT, then shut down cleanly.

Without --sandbox it manages the node it runs on (root needed); with --sandbox it runs in
network, mount and UTS namespaces of its own with a private root prefix, so it cannot change
the host (no root needed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import structlog

from cosid.daemon.activation import Activation
from cosid.daemon.config import Config, ConfigError, load_config
from cosid.daemon.domains import build_domains
from cosid.daemon.listener import ListenerError, listener_of
from cosid.daemon.logs import configure_logging, open_audit_log
from cosid.daemon.netns import NetnsError, enter_network_namespace
from cosid.daemon.notify import Notifier
from cosid.daemon.sandbox import SandboxError, enter
from cosid.resources.catalog import TYPED_APIS
from cosid.runtime.runtime import Runtime
from cosid.server.app import Server
from cosid.server.roles import Listener
from cosid.state.journal import Journal
from cosid.state.meta import publish_meta
from cosid.state.registry import Registry
from cosid.state.sqlite import SqliteJournal
from cosid.state.store import Store

log = structlog.get_logger("cosid.daemon")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cosid", description=__doc__)
    parser.add_argument("--config", type=Path, help="YAML configuration file")
    parser.add_argument(
        "--listen", help="the admin unix socket (default unix:///run/cosid/cosid.sock)"
    )
    parser.add_argument("--state-dir", type=Path, help="where durable state lives")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--sandbox",
        action="store_true",
        default=None,
        help="run in fresh network, mount and UTS namespaces with a private root prefix",
    )
    parser.add_argument(
        "--netns", help="manage this named network namespace (/run/netns/NAME), not the host's"
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="prefix drivers write files under (default /; with --sandbox STATE_DIR/sandbox-root)",
    )
    return parser.parse_args(argv)


def open_journal(config: Config) -> Journal | None:
    if config.state.backend == "memory":
        return None
    return SqliteJournal(config.state_dir / "state.db", config.state.sync)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve(config: Config, notifier: Notifier, activation: Activation) -> None:
    """Serve until a stop signal. systemd hears READY=1 once the servers serve and every stored
    spec was attempted (so a boot applies them all before units ordered after cosid start),
    STOPPING=1 at the stop, and watchdog pings throughout (see docs/systemd.md)."""
    started = time.monotonic()
    watchdog = asyncio.create_task(notifier.watchdog())
    domains = build_domains(config)
    for check in domains.checks:
        try:
            await check.run()
        except ConnectionError as error:  # main() reports it and exits 1
            raise ConnectionError(f"{check.setting}, but {error}") from None
    registry = Registry(
        (*(ns.definition() for ns in config.namespaces), *domains.namespaces), domains.definitions
    )
    listeners = activation.adopt([listener_of(c) for c in config.all_listeners])
    for listener in listeners:
        listener.claim()
    store = Store(open_journal(config), registry.durable_namespaces, config.state.history)
    await publish_meta(store, registry)
    for retirement in domains.retirements:
        await retirement.carry_out(store)
    runtime = Runtime(store, domains.controllers, observers=domains.observers)
    runtime.start()
    server = Server(store, registry, config.limits, TYPED_APIS, runtime, domains.admissions)
    for listener in listeners:
        served = Listener(listener.address, listener.role)
        listener.bind(server.serve_on(served, by_certificate=listener.roles_from_certificates))
    await server.start()
    await activation.start()  # connections queued on systemd's sockets are served from here
    log.info(
        "serving",
        listen={listener.address: listener.role.value for listener in listeners},
        state_dir=str(config.state_dir),
        backend=config.state.backend,
        root=str(config.root),
        sandbox=config.sandbox,
        pid=os.getpid(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        # A plain handler, not loop.add_signal_handler: removing one of those restores the
        # default action for a moment, and a second SIGTERM then kills a clean shutdown.
        signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))
    loop.add_signal_handler(signal.SIGHUP, runtime.refresh)  # `systemctl reload`: resync now
    ready = asyncio.create_task(announce_ready(runtime, notifier, started))
    await stop.wait()
    log.info("shutting down", grace_seconds=config.shutdown_grace_seconds)
    notifier.stopping()
    ready.cancel()
    activation.stop_accepting()  # new connections wait for the next start
    stopping = asyncio.create_task(server.begin_shutdown(config.shutdown_grace_seconds))
    await asyncio.sleep(0)  # let the server refuse new calls before the store closes
    await runtime.stop()
    store.close()  # ends every watch, so only unary calls use the grace period
    await stopping
    for listener in listeners:
        listener.release()
    for signum in STOP_SIGNALS:
        # Stopped cleanly: a repeated signal during the interpreter's exit must not turn a
        # clean exit into death by signal.
        signal.signal(signum, signal.SIG_IGN)
    watchdog.cancel()
    log.info("stopped")


async def announce_ready(runtime: Runtime, notifier: Notifier, started: float) -> None:
    """READY=1 once the runtime has settled (`Runtime.settled`: every item of every controller
    attempted, failures included, so one bad spec never keeps the node from booting)."""
    items = await runtime.settled()
    seconds = round(time.monotonic() - started, 3)
    log.info("ready", seconds=seconds, items=items)
    notifier.ready(f"serving; {items} items reconciled in {seconds} s at start")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        config = load_config(
            args.config,
            {
                "listen": args.listen,
                "state_dir": args.state_dir,
                "log_level": args.log_level,
                "sandbox": args.sandbox,
                "root": args.root,
                "netns": args.netns,
            },
        )
    except ConfigError as error:
        sys.exit(f"cosid: {error}")
    if config.audit_log is None:
        configure_logging(config.log_level)
    else:
        try:
            configure_logging(config.log_level, open_audit_log(config.audit_log))
        except OSError as error:
            sys.exit(f"cosid: cannot open the audit log: {error}")
    try:
        # Before any namespace is entered: systemd's notify socket may be an abstract name,
        # which belongs to a network namespace.
        notifier = Notifier.from_environment()
        activation = Activation.from_environment()
        if config.sandbox:  # first: every thread started later (asyncio, gRPC) inherits it
            log.info("sandbox", **enter(config.root).log_fields())
        if config.netns is not None:  # first, for the same reason
            enter_network_namespace(config.netns)
            log.info("network namespace", netns=config.netns)
        asyncio.run(serve(config, notifier, activation))
    except (ListenerError, SandboxError, NetnsError, ValueError, OSError) as error:
        log.error("cannot start", error=str(error))
        sys.exit(f"cosid: {error}")


if __name__ == "__main__":
    main()
