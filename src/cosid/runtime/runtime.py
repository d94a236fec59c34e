"""Runs controllers: checks who owns what at start-up, feeds each its items, restarts crashes.

Each controller watches its primary input with bootstrap, so starting (or restarting) the
daemon re-applies every stored spec; weak inputs, the resync timer and inotify events on the
controller's watched files re-queue every item; the store's DESTROYED event ends an item's
task and its condition.

Observers (`cosid.runtime.observer`) run beside the controllers: they have no input and mirror
what the system has into their outputs.

Readiness (`Runtime.settled`): the runtime has settled once every controller has attempted
every item its first bootstrap found, and every observer has written its first observation.
Attempted, not succeeded: an item that failed counts (it waits out its backoff and keeps
retrying after readiness), and so does a run that crashed before settling (its restarts are
logged and counted); neither may keep a daemon from ever saying it is ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import structlog

from cosid.runtime.backoff import Backoff
from cosid.runtime.conditions import CONDITIONS
from cosid.runtime.controller import (
    AnnouncesChanges,
    ChangeStream,
    Controller,
    Notice,
    Strength,
)
from cosid.runtime.inotify import FileWatcher
from cosid.runtime.item import Item, ItemContext
from cosid.runtime.metrics import ControllerMetrics
from cosid.runtime.observer import Observer, ObserverRun
from cosid.runtime.restarts import Restarts
from cosid.runtime.writer import OutputWriter
from cosid.state.events import EventType
from cosid.state.resource import Kind, Pointer
from cosid.state.state import State, WatchKindOptions
from cosid.state.store import StoreClosedError

log = structlog.get_logger("cosid.runtime")

RUNTIME_OWNER = "runtime"


class ControllerSetupError(ValueError):
    """Controllers that cannot run together (names, inputs or output ownership)."""


class WatchLostError(Exception):
    """The controller's watch fell behind the store's history; it restarts from a bootstrap."""


def check_controllers(
    controllers: Sequence[Controller], observers: Sequence[Observer] = ()
) -> None:
    parts: list[Controller | Observer] = [*controllers, *observers]
    names = [part.name for part in parts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ControllerSetupError(f"controller names used twice: {', '.join(duplicates)}")
    writers: dict[Kind, list[tuple[str, bool]]] = {}
    for controller in controllers:
        if not controller.inputs or controller.inputs[0].strength != Strength.STRONG:
            raise ControllerSetupError(f"controller {controller.name!r}: no strong primary input")
    for part in parts:
        for output in part.outputs:
            if output.kind == CONDITIONS:
                raise ControllerSetupError(f"controller {part.name!r}: {CONDITIONS} is ours")
            writers.setdefault(output.kind, []).append((part.name, output.exclusive))
    for kind, owners in writers.items():
        if len(owners) > 1 and any(exclusive for _, exclusive in owners):
            names_of = ", ".join(name for name, _ in owners)
            raise ControllerSetupError(f"{kind} has an exclusive owner among several: {names_of}")


async def _nothing_to_observe() -> None:
    return None


class ControllerRun:
    """One controller's life: its watches, its items, its restarts."""

    def __init__(
        self,
        state: State,
        controller: Controller,
        backoff: Backoff,
        observed: Callable[[], Awaitable[None]] = _nothing_to_observe,
    ) -> None:
        self._state = state
        self._controller = controller
        self._backoff = backoff
        self.metrics = ControllerMetrics()
        self._items: dict[str, Item] = {}
        self.settled = asyncio.Event()
        """Set once the first bootstrap's items were each attempted (or the run crashed)."""
        self.settled_items = 0
        """How many items that first bootstrap found."""
        self._context = ItemContext(
            state=state,
            controller=controller,
            writer=OutputWriter(
                state, controller.name, frozenset(o.kind for o in controller.outputs)
            ),
            conditions=OutputWriter(state, RUNTIME_OWNER, frozenset({CONDITIONS})),
            metrics=self.metrics,
            backoff=backoff,
            observed=observed,
            waiting=set(),
        )

    @property
    def primary(self) -> Kind:
        """The kind whose resources are this controller's items."""
        return self._controller.inputs[0].kind

    def refresh(self) -> None:
        """Reconcile every item now (an on-demand resync)."""
        for item in self._items.values():
            item.poke()

    def retry_waiting(self) -> None:
        """Retry now the items waiting for something (what cosid's own change may bring)."""
        for item in list(self._context.waiting):
            item.poke()

    @property
    def waiting(self) -> int:
        """How many items wait for something else to appear (a Waiting... reason)."""
        return len(self._context.waiting)

    @property
    def items(self) -> int:
        """How many items (resources of the primary input) the controller acts on now."""
        return len(self._items)

    async def run(self) -> None:
        name = self._controller.name
        restarts = Restarts("controller", name, self._backoff, self.metrics, self.settled)
        while True:
            try:
                await self._serve()
            except StoreClosedError:
                return
            except Exception as error:
                await restarts.after(error)
            finally:
                await self._forget_all()

    async def _serve(self) -> None:
        primary = self._controller.inputs[0].kind
        watch = await self._state.watch_kind(primary, WatchKindOptions(bootstrap_contents=True))
        files = self._watch_files()  # before the first reconcile reads them: no edit is missed
        changes = self._watch_changes()
        helpers = [
            asyncio.create_task(self._follow_weak(i.kind)) for i in self._controller.inputs[1:]
        ]
        if changes is not None:
            helpers.append(asyncio.create_task(self._follow_changes(changes)))
        if self._controller.resync_seconds:
            helpers.append(asyncio.create_task(self._resync(self._controller.resync_seconds)))
        try:
            async for batch in watch:
                for event in batch:
                    if event.type == EventType.ERRORED:
                        raise WatchLostError(event.error)
                    if event.type == EventType.BOOTSTRAPPED and not self.settled.is_set():
                        items = list(self._items.values())  # the whole bootstrap, poked
                        helpers.append(asyncio.create_task(self._settle(items)))
                    if event.resource is None or event.type == EventType.BOOTSTRAPPED:
                        continue
                    pointer = event.resource.pointer
                    if event.type == EventType.DESTROYED:
                        await self._forget(pointer.id)
                    else:
                        self._item(pointer).poke(changed=True)
        finally:
            if files is not None:
                files.close()
            if changes is not None:
                changes.close()
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _settle(self, items: list[Item]) -> None:
        await asyncio.gather(*(item.attempted.wait() for item in items))
        self.settled_items = len(items)
        self.settled.set()

    def _item(self, pointer: Pointer) -> Item:
        item = self._items.get(pointer.id)
        if item is None:
            item = self._items[pointer.id] = Item(self._context, pointer)
        return item

    async def _forget(self, item_id: str) -> None:
        item = self._items.pop(item_id, None)
        if item is not None:
            await item.forget()

    async def _forget_all(self) -> None:
        for item_id in list(self._items):
            await self._forget(item_id)

    async def _follow_weak(self, kind: Kind) -> None:
        async for _ in await self._state.watch_kind(kind):
            self.refresh()

    def _watch_files(self) -> FileWatcher | None:
        paths = self._controller.watched_paths
        if not paths:
            return None
        watcher = FileWatcher(paths, self._files_changed)
        try:
            watcher.start()
        except OSError as error:  # no inotify instance left (EMFILE): keep running without
            log.warning(
                "cannot watch files; their drift is found by the resync only",
                controller=self._controller.name,
                error=str(error),
            )
            return None
        return watcher

    def _watch_changes(self) -> ChangeStream | None:
        if not isinstance(self._controller, AnnouncesChanges):
            return None
        try:
            return self._controller.changes()
        except OSError as error:  # cannot watch: keep running on the resync
            log.warning(
                "cannot follow the kernel's change notices; drift is found by the resync only",
                controller=self._controller.name,
                error=str(error),
            )
            return None

    async def _follow_changes(self, changes: ChangeStream) -> None:
        async for notice in changes:
            if notice == Notice.OWN:
                self.retry_waiting()
            else:
                self.refresh()

    def _files_changed(self, paths: frozenset[Path]) -> None:
        log.debug(
            "watched files changed",
            controller=self._controller.name,
            paths=sorted(str(p) for p in paths),
        )
        self.refresh()

    async def _resync(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.refresh()


class Runtime:
    def __init__(
        self,
        state: State,
        controllers: Sequence[Controller],
        backoff: Backoff = Backoff(),
        observers: Sequence[Observer] = (),
    ) -> None:
        check_controllers(controllers, observers)
        self.observers = {o.name: ObserverRun(state, o, backoff) for o in observers}
        self.runs = {
            c.name: ControllerRun(state, c, backoff, self._observers_of(c.name))
            for c in controllers
        }
        self._tasks: list[asyncio.Task[None]] = []

    def _observers_of(self, controller: str) -> Callable[[], Awaitable[None]]:
        """What the controller's items wait for before they are Reconciled: the observers
        that write their statuses caught up (see `ObserverRun.caught_up`); nothing when none
        does."""
        runs = [run for run in self.observers.values() if controller in run.serves]
        if not runs:
            return _nothing_to_observe
        if len(runs) == 1:
            return runs[0].caught_up

        async def caught_up() -> None:
            await asyncio.gather(*(run.caught_up() for run in runs))

        return caught_up

    @property
    def _all_runs(self) -> dict[str, ControllerRun | ObserverRun]:
        return {**self.runs, **self.observers}

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(run.run(), name=name) for name, run in self._all_runs.items()
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def settled(self) -> int:
        """Wait until every controller has attempted every item its first bootstrap found
        (see the module's docstring), so a start re-applies every stored spec before the daemon
        says it is ready; returns how many items that was, over all controllers."""
        await asyncio.gather(*(run.settled.wait() for run in self._all_runs.values()))
        return sum(run.settled_items for run in self.runs.values())

    def controllers_of(self, kind: Kind) -> tuple[str, ...]:
        """The controllers whose items are the resources of `kind` (its primary input)."""
        return tuple(name for name, run in self.runs.items() if run.primary == kind)

    def metrics(self) -> dict[str, ControllerMetrics]:
        """Per controller and observer."""
        return {name: run.metrics for name, run in self._all_runs.items()}

    def refresh(self, names: Sequence[str] = ()) -> list[str]:
        """Reconcile every item of the named controllers (all when none are named) now;
        returns the names refreshed. KeyError names a controller that does not exist."""
        chosen = list(names) or list(self.runs)
        runs = [self.runs[name] for name in chosen]
        for run in runs:
            run.refresh()
        log.info("refresh", controllers=chosen)
        return chosen
