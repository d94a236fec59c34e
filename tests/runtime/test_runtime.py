"""The runtime's contract (docs/runtime.md), one behaviour per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from cosid.runtime.backoff import Backoff
from cosid.runtime.conditions import Reason
from cosid.runtime.controller import Input, Notice, Outcome, Output, Strength
from cosid.runtime.runtime import ControllerSetupError, Runtime
from cosid.state.errors import NotFoundError
from cosid.state.resource import Kind, Phase, Pointer
from cosid.state.store import Store
from tests.runtime.conftest import (
    FAST,
    SPECS,
    STATUSES,
    Recorder,
    condition_of,
    eventually,
    spec_pointer,
    widget,
)


def test_two_exclusive_owners_of_one_kind_is_a_start_up_error(store: Store) -> None:
    with pytest.raises(ControllerSetupError, match="exclusive owner"):
        Runtime(store, [Recorder(name="a"), Recorder(name="b")])


def test_shared_outputs_may_have_several_writers(store: Store) -> None:
    shared = (Output(STATUSES, exclusive=False),)
    Runtime(store, [Recorder(name="a", outputs=shared), Recorder(name="b", outputs=shared)])


@pytest.mark.parametrize(
    ("controllers", "message"),
    [
        ([Recorder(name="a", outputs=()), Recorder(name="a", outputs=())], "used twice"),
        ([Recorder(inputs=(Input(SPECS, Strength.WEAK),))], "no strong primary input"),
        ([Recorder(inputs=())], "no strong primary input"),
    ],
)
def test_controllers_that_cannot_run_are_refused(
    store: Store, controllers: list[Recorder], message: str
) -> None:
    with pytest.raises(ControllerSetupError, match=message):
        Runtime(store, controllers)


async def test_an_item_is_reconciled_with_a_finalizer_and_a_ready_condition(
    store: Store, recorder: Recorder, runtime: Runtime
) -> None:
    await store.create(widget("a"))

    async def converged() -> bool:
        condition = await condition_of(store, "widgets", "a")
        return condition is not None and condition.ready

    await eventually(converged)
    spec = await store.get(spec_pointer("a"))
    assert spec.metadata.finalizers == ("widgets",)
    condition = await condition_of(store, "widgets", "a")
    assert condition is not None
    assert (condition.observed_version, condition.reason) == (spec.version, Reason.RECONCILED)
    status = await store.get(Pointer(STATUSES.namespace, STATUSES.type, "a"))
    assert (status.spec.yaml, status.metadata.owner) == ("text: on\n", "widgets")


async def test_events_while_an_item_reconciles_coalesce_into_one_more_run(
    store: Store, recorder: Recorder, runtime: Runtime
) -> None:
    gate = recorder.blocked["a"] = asyncio.Event()
    current = await store.create(widget("a"))
    await asyncio.sleep(0.05)  # the first reconcile is now waiting at the gate
    for n in range(20):
        current = await store.update(
            (await store.get(spec_pointer("a"))).with_metadata(labels={"n": str(n)})
        )
    gate.set()

    async def latest_seen() -> bool:
        return bool(recorder.reconciled) and recorder.reconciled[-1][1] == current.version

    await eventually(latest_seen)
    await asyncio.sleep(0.05)
    assert len(recorder.reconciled) <= 3, recorder.reconciled


async def test_a_stuck_or_failing_item_does_not_hold_the_others_back(
    store: Store, recorder: Recorder, runtime: Runtime
) -> None:
    recorder.blocked["stuck"] = asyncio.Event()
    recorder.failing["broken"] = OSError("permission denied")
    for item_id in ("stuck", "broken", "fine"):
        await store.create(widget(item_id))

    async def fine_converged() -> bool:
        return ("fine", 2) in recorder.reconciled

    await eventually(fine_converged)
    assert all(item_id == "fine" for item_id, _ in recorder.reconciled)


async def test_failures_show_on_the_condition_and_are_retried_with_backoff(
    store: Store, recorder: Recorder, runtime: Runtime
) -> None:
    recorder.failing["a"] = OSError("the key is read-only")
    await store.create(widget("a"))

    async def failed_a_few_times() -> bool:
        condition = await condition_of(store, "widgets", "a")
        return condition is not None and condition.attempts >= 3

    await eventually(failed_a_few_times)
    condition = await condition_of(store, "widgets", "a")
    assert condition is not None
    assert (condition.ready, condition.reason) == (False, Reason.RECONCILE_FAILED)
    assert condition.message == "the key is read-only"
    assert runtime.metrics()["widgets"].reconcile_failures >= 3

    del recorder.failing["a"]

    async def recovered() -> bool:
        condition = await condition_of(store, "widgets", "a")
        return condition is not None and condition.ready

    await eventually(recovered)
    condition = await condition_of(store, "widgets", "a")
    assert condition is not None
    assert condition.attempts == 0


async def test_deleting_an_item_tears_it_down_before_it_goes(
    store: Store, recorder: Recorder, runtime: Runtime
) -> None:
    await store.create(widget("a"))

    async def reconciled() -> bool:
        return bool(recorder.reconciled)

    await eventually(reconciled)

    await asyncio.wait_for(store.teardown_and_destroy(spec_pointer("a")), 2)

    assert recorder.torn_down == ["a"]
    with pytest.raises(NotFoundError):
        await store.get(Pointer(STATUSES.namespace, STATUSES.type, "a"))

    async def condition_gone() -> bool:
        return await condition_of(store, "widgets", "a") is None

    await eventually(condition_gone)


async def test_a_failing_teardown_keeps_the_item_until_it_succeeds(
    store: Store, recorder: Recorder, runtime: Runtime
) -> None:
    await store.create(widget("a"))

    async def reconciled() -> bool:
        return bool(recorder.reconciled)

    await eventually(reconciled)
    recorder.failing["a"] = OSError("busy")
    destroying = asyncio.create_task(store.teardown_and_destroy(spec_pointer("a")))

    async def teardown_failed() -> bool:
        condition = await condition_of(store, "widgets", "a")
        return condition is not None and condition.reason == Reason.TEARDOWN_FAILED

    await eventually(teardown_failed)
    assert (await store.get(spec_pointer("a"))).metadata.phase == Phase.TEARING_DOWN
    assert not destroying.done()

    del recorder.failing["a"]
    await asyncio.wait_for(destroying, 2)
    assert recorder.torn_down == ["a"]


async def test_writing_a_kind_not_declared_as_output_fails_the_item(
    store: Store, recorder: Recorder, runtime: Runtime
) -> None:
    recorder.writes_to = Kind("status", "Others.test.cosi.dev")
    await store.create(widget("a"))

    async def refused() -> bool:
        condition = await condition_of(store, "widgets", "a")
        return condition is not None and not condition.ready

    await eventually(refused)
    condition = await condition_of(store, "widgets", "a")
    assert condition is not None
    assert "does not own status/Others.test.cosi.dev" in condition.message


async def test_a_new_runtime_reapplies_every_stored_item(store: Store) -> None:
    for item_id in ("a", "b"):
        await store.create(widget(item_id))
    recorder = Recorder()
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:

        async def both() -> bool:
            return {item_id for item_id, _ in recorder.reconciled} == {"a", "b"}

        await eventually(both)
    finally:
        await runtime.stop()


async def test_resync_reconciles_again_without_events(store: Store) -> None:
    recorder = Recorder(resync_seconds=0.02)
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:
        await store.create(widget("a"))

        async def several() -> bool:
            return len(recorder.reconciled) >= 4

        await eventually(several)
        assert {version for _, version in recorder.reconciled} == {2}  # one spec, many passes
    finally:
        await runtime.stop()


async def test_a_watched_file_change_reconciles_every_item(store: Store, tmp_path: Path) -> None:
    watched = tmp_path / "watched"
    recorder = Recorder(watched_paths=(watched,))
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:
        await store.create(widget("a"))
        await store.create(widget("b"))

        async def both() -> bool:
            return {item_id for item_id, _ in recorder.reconciled} == {"a", "b"}

        await eventually(both)
        await asyncio.sleep(0.1)  # settled (the finalizer's own event reconciles once more)
        settled = len(recorder.reconciled)
        (tmp_path / "unwatched").write_text("x\n")
        await asyncio.sleep(0.1)
        assert len(recorder.reconciled) == settled, "another file in the directory is no drift"

        watched.write_text("edited\n")

        async def again() -> bool:
            return len(recorder.reconciled) >= settled + 2

        await eventually(again, within=1.0)
        assert sorted(item_id for item_id, _ in recorder.reconciled[settled:]) == ["a", "b"]
    finally:
        await runtime.stop()


async def test_files_are_watched_only_while_the_controller_runs(
    store: Store, tmp_path: Path
) -> None:
    before = inotify_descriptors()
    runtime = Runtime(store, [Recorder(watched_paths=(tmp_path / "watched",))], backoff=FAST)
    runtime.start()
    await asyncio.sleep(0.05)
    assert len(inotify_descriptors() - before) == 1

    await runtime.stop()

    assert inotify_descriptors() == before


def inotify_descriptors() -> set[int]:
    found = set()
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{name}") == "anon_inode:inotify":
                found.add(int(name))
    return found


async def test_a_weak_input_change_requeues_the_items(store: Store) -> None:
    links = Kind("status", "Links.test.cosi.dev")
    recorder = Recorder(inputs=(Input(SPECS, Strength.STRONG), Input(links)))
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:
        await store.create(widget("a"))

        async def once() -> bool:
            return len(recorder.reconciled) >= 1

        await eventually(once)
        await asyncio.sleep(0.05)
        before = len(recorder.reconciled)
        await store.create(widget("eth0").with_metadata(namespace=links.namespace, type=links.type))

        async def again() -> bool:
            return len(recorder.reconciled) > before

        await eventually(again)
    finally:
        await runtime.stop()


async def test_a_controller_whose_watch_is_lost_restarts_and_catches_up() -> None:
    store = Store(history_capacity=16)
    recorder = Recorder()
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:
        await asyncio.sleep(0.02)
        for n in range(40):  # no await yields here: the controller's watch falls behind
            await store.create(widget(f"w{n:02}"))

        async def all_reconciled() -> bool:
            return len({item_id for item_id, _ in recorder.reconciled}) == 40

        await eventually(all_reconciled, within=5)
        assert runtime.metrics()["widgets"].restarts >= 1
    finally:
        await runtime.stop()


async def test_outcomes_are_counted_and_repairs_logged(store: Store) -> None:
    recorder = Recorder(outcome=Outcome.REPAIRED)
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:
        await store.create(widget("a"))

        async def repaired() -> bool:
            return runtime.metrics()["widgets"].repairs >= 1

        await eventually(repaired)
        metrics = runtime.metrics()["widgets"]
        assert metrics.reconciles == metrics.repairs
        assert metrics.applied == 0
    finally:
        await runtime.stop()


async def test_a_version_is_reconciled_once_not_again_for_its_own_finalizer(
    store: Store, recorder: Recorder, runtime: Runtime
) -> None:
    created = await store.create(widget("a"))

    async def converged() -> bool:
        condition = await condition_of(store, "widgets", "a")
        return condition is not None and condition.ready

    await eventually(converged)
    await asyncio.sleep(0.1)  # the finalizer's own event has long been delivered
    with_finalizer = await store.get(spec_pointer("a"))
    assert with_finalizer.version == created.version + 1
    assert recorder.reconciled == [("a", with_finalizer.version)]

    runtime.runs["widgets"].refresh()  # a refresh reconciles the same version again

    async def refreshed() -> bool:
        return len(recorder.reconciled) == 2

    await eventually(refreshed)
    assert recorder.reconciled[1] == ("a", with_finalizer.version)


async def test_other_controllers_finalizers_need_no_reconcile(store: Store) -> None:
    shared = (Output(STATUSES, exclusive=False),)
    first, second = Recorder(name="a", outputs=shared), Recorder(name="b", outputs=shared)
    runtime = Runtime(store, [first, second], backoff=FAST)
    runtime.start()
    try:
        await store.create(widget("w"))

        async def observed(version: int) -> bool:
            conditions = [await condition_of(store, name, "w") for name in ("a", "b")]
            return all(c is not None and c.observed_version == version for c in conditions)

        await eventually(lambda: observed(3))  # created, then a finalizer each
        await store.add_finalizer(spec_pointer("w"), "someone-else")
        await eventually(lambda: observed(4))  # a wait for version 4 is over: same content
        assert len(first.reconciled) == len(second.reconciled) == 1

        current = await store.get(spec_pointer("w"))
        await store.update(current.with_metadata(labels={"changed": "yes"}))
        await eventually(lambda: observed(5))
        assert [version for _, version in first.reconciled] == [first.reconciled[0][1], 5]
    finally:
        await runtime.stop()


class AnnouncingRecorder(Recorder):
    """A controller whose state the kernel announces: `announce()` is a change notice."""

    def __init__(self) -> None:
        super().__init__(name="widgets")
        self.notices: asyncio.Queue[Notice] = asyncio.Queue()
        self.closed = False

    def changes(self) -> AnnouncingRecorder:
        return self

    def __aiter__(self) -> AnnouncingRecorder:
        return self

    async def __anext__(self) -> Notice:
        if self.closed:
            raise StopAsyncIteration
        return await self.notices.get()

    def close(self) -> None:
        self.closed = True

    def announce(self, notice: Notice = Notice.DRIFT) -> None:
        self.notices.put_nowait(notice)


async def test_a_change_notice_reconciles_every_item_and_ends_with_the_run(store: Store) -> None:
    recorder = AnnouncingRecorder()
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:
        for item_id in ("a", "b"):
            await store.create(widget(item_id))

        async def both() -> bool:
            return len(recorder.reconciled) == 2

        await eventually(both)
        recorder.announce()

        async def again() -> bool:
            return sorted(i for i, _ in recorder.reconciled) == ["a", "a", "b", "b"]

        await eventually(again)
    finally:
        await runtime.stop()
    assert recorder.closed


async def test_drift_notices_do_not_cut_a_failing_items_backoff_short(store: Store) -> None:
    recorder = AnnouncingRecorder()
    recorder.failing["a"] = RuntimeError("refused")
    runtime = Runtime(store, [recorder], backoff=Backoff(initial_seconds=30.0, max_seconds=30.0))
    runtime.start()
    try:
        created = await store.create(widget("a"))

        async def failed_once() -> bool:
            condition = await condition_of(store, "widgets", "a")
            return condition is not None and condition.attempts == 1

        await eventually(failed_once)
        for _ in range(5):
            recorder.announce()
            runtime.runs["widgets"].refresh()
        await asyncio.sleep(0.2)
        condition = await condition_of(store, "widgets", "a")
        assert condition is not None
        assert condition.attempts == 1, "no retry before the backoff ends"

        del recorder.failing["a"]  # a client changes the spec: that retries at once
        current = await store.get(created.pointer)
        await store.update(current.with_metadata(labels={"fixed": "yes"}))

        async def converged() -> bool:
            found = await condition_of(store, "widgets", "a")
            return found is not None and found.ready

        await eventually(converged)
    finally:
        await runtime.stop()


class WaitingError(Exception):
    """A driver error saying the item waits for something else to appear."""

    reason = "WaitingForLink"


async def test_an_own_notice_retries_only_the_waiting_items_at_once(store: Store) -> None:
    """cosid's own change (a link it made) may be what an item waits for: that item is
    retried at once, in spite of a long backoff; converged items are not reconciled again."""
    recorder = AnnouncingRecorder()
    recorder.failing["waits"] = WaitingError("no link yet")
    runtime = Runtime(store, [recorder], backoff=Backoff(initial_seconds=30.0, max_seconds=30.0))
    runtime.start()
    try:
        for item_id in ("done", "waits"):
            await store.create(widget(item_id))

        async def settled() -> bool:
            condition = await condition_of(store, "widgets", "waits")
            return bool(recorder.reconciled) and condition is not None and condition.attempts > 0

        await eventually(settled)
        assert runtime.runs["widgets"].waiting == 1
        await asyncio.sleep(0.2)  # the item's own finalizer event may retry it once more
        before = await condition_of(store, "widgets", "waits")
        await asyncio.sleep(0.2)
        assert await condition_of(store, "widgets", "waits") == before, "in its 30 s backoff"
        del recorder.failing["waits"]  # the link is there now
        recorder.announce(Notice.OWN)

        async def converged() -> bool:
            found = await condition_of(store, "widgets", "waits")
            return found is not None and found.ready

        await eventually(converged)
        assert sorted(item for item, _ in recorder.reconciled) == ["done", "waits"]
    finally:
        await runtime.stop()


async def test_an_own_notice_leaves_converged_items_alone(store: Store) -> None:
    recorder = AnnouncingRecorder()
    runtime = Runtime(store, [recorder], backoff=FAST)
    runtime.start()
    try:
        await store.create(widget("a"))

        async def once() -> bool:
            return len(recorder.reconciled) == 1

        await eventually(once)
        recorder.announce(Notice.OWN)
        await asyncio.sleep(0.2)
        assert len(recorder.reconciled) == 1, "an OWN notice reconciles no converged item"
        recorder.announce(Notice.DRIFT)

        async def again() -> bool:
            return len(recorder.reconciled) == 2

        await eventually(again)
    finally:
        await runtime.stop()
