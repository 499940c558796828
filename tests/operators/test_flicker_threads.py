"""suppress_flicker under real threads: timers fire on scheduler threads while producers
push events from their own threads.

Timing is not deterministic here, so the test checks invariants that hold whatever the
interleaving: the output is serialized, no event is lost or duplicated (per uuid, emitted
joins and departures alternate and end where the input ended), the occupancy downstream
always matches the roster it builds, and nothing is emitted after completion. Bounded
to a fraction of a second per run; run 20 times in a row.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from typing import Any

import pytest
from reactivex.scheduler import ThreadPoolScheduler, TimeoutScheduler
from reactivex.subject import Subject

from rxpresence import Action, PresenceEvent, Roster
from rxpresence.operators import suppress_flicker

ROOM = "room"
THREADS = 4
STEPS = 40
UUIDS_PER_THREAD = 4
GRACE = 0.002


@pytest.mark.timeout(10)
@pytest.mark.parametrize("run", range(20))
@pytest.mark.usefixtures("eager_switching")
def test_no_event_is_lost_or_duplicated(run: int) -> None:
    pool = ThreadPoolScheduler(max_workers=32) if run % 2 else None
    timers = pool or TimeoutScheduler.singleton()
    source: Subject[PresenceEvent] = Subject()
    emitted: list[PresenceEvent] = []
    overlaps: list[PresenceEvent] = []
    inconsistent: list[Roster] = []
    completed = threading.Event()
    busy = threading.Lock()
    roster = Roster(ROOM)

    def on_next(event: PresenceEvent) -> None:
        nonlocal roster
        if not busy.acquire(blocking=False):
            overlaps.append(event)  # two threads inside on_next at once
            return
        try:
            emitted.append(event)
            roster = roster.apply(event)
            if roster.occupancy != len(roster):
                inconsistent.append(roster)
        finally:
            busy.release()

    subscription = source.pipe(suppress_flicker(GRACE, scheduler=timers)).subscribe(
        on_next, on_completed=completed.set
    )

    # What PubNub would send: a global timetoken order and an exact occupancy.
    send_lock = threading.Lock()
    present: set[str] = set()
    timetokens = itertools.count(1)
    sent: dict[str, list[Action]] = {}

    def send(action: Action, uuid: str) -> None:
        with send_lock:  # PubNub delivers one event at a time
            if action is Action.JOIN:
                present.add(uuid)
            else:
                present.discard(uuid)
            sent.setdefault(uuid, []).append(action)
            event = PresenceEvent(action, ROOM, uuid, len(present), 0, next(timetokens))
            source.on_next(event)

    def producer(k: int) -> None:
        rng = random.Random(run * 1000 + k)
        inside: set[str] = set()
        for _ in range(STEPS):
            uuid = f"u{k}-{rng.randrange(UUIDS_PER_THREAD)}"
            if uuid in inside:
                inside.discard(uuid)
                send(Action.TIMEOUT, uuid)
            else:
                inside.add(uuid)
                send(Action.JOIN, uuid)
            # Around the grace period: some rejoins beat the timer, some race it.
            time.sleep(rng.random() * 2 * GRACE)

    threads = [threading.Thread(target=producer, args=(k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    source.on_completed()
    assert completed.is_set()
    count = len(emitted)
    time.sleep(5 * GRACE)  # a timer firing now must find the subscription done
    assert len(emitted) == count
    subscription.dispose()
    if pool is not None:
        pool.executor.shutdown(wait=True)

    assert overlaps == []
    assert inconsistent == []
    by_uuid: dict[str, list[Action]] = {}
    for event in emitted:
        by_uuid.setdefault(event.uuid or "", []).append(event.action)
    assert by_uuid.keys() == sent.keys()
    for uuid, actions in by_uuid.items():
        # Alternating join/timeout from a join: nothing lost, nothing duplicated.
        expected: Any = [Action.JOIN, Action.TIMEOUT] * len(actions)
        assert actions == expected[: len(actions)], uuid
        assert actions[-1] is sent[uuid][-1], uuid
        assert actions.count(Action.JOIN) - actions.count(Action.TIMEOUT) == sent[uuid].count(
            Action.JOIN
        ) - sent[uuid].count(Action.TIMEOUT)
    assert roster.uuids == present
    assert roster.occupancy == len(present)
