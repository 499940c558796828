"""Events from several threads while grace timers fire on their own threads.

A detached hub with real timers and a grace of a few milliseconds, so held timeouts are
released on timer threads while producer threads push: the hub's own timer thread (the
default) in even runs, RxPY's ``TimeoutScheduler`` (a thread per scheduled item) in odd ones. Each
producer owns some channels (PubNub delivers one channel's events in order, which is
what each producer does) and plays joins, state changes, leaves, timeouts, quick
rejoins and interval events against its own model of who is present.

Checked whatever the interleaving:

* the suppressed roster of a channel is never emitted concurrently with itself, always
  has ``occupancy == len(members)``, and never lacks a uuid the raw roster holds at that
  moment;
* nothing is lost: ``events`` carried every pushed event, and once a quiet period longer
  than the grace has passed, every raw roster equals the producer's model (uuids, states,
  occupancy) and every suppressed roster equals its raw roster;
* ``close()`` leaves no thread behind.

Thread switching is made far more frequent than the default so races actually happen.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from reactivex.scheduler import TimeoutScheduler

from rxpresence import PresenceEvent, PresenceStreams, Roster

PRODUCERS = 4
CHANNELS_PER_PRODUCER = 2
STEPS = 300
UUIDS = [f"u{i}" for i in range(6)]
GRACE = 0.003
STATES: list[dict[str, Any] | None] = [None, {"s": 1}, {"s": 2}]


class Producer:
    """Plays a consistent history on its channels; knows what it implies."""

    def __init__(self, index: int, seed: int, clock: Iterator[int]) -> None:
        self.channels = [f"p{index}-c{k}" for k in range(CHANNELS_PER_PRODUCER)]
        self.rng = random.Random(seed * 100 + index)
        self.clock = clock
        self.present: dict[str, dict[str, dict[str, Any] | None]] = {c: {} for c in self.channels}
        self.pushed = 0

    def events(self) -> Iterator[PresenceEvent]:
        # An interval event's join array carries no state, so only uuids that never had
        # one rejoin that way (whether they still have one is unknowable from the events,
        # see tests/reliability/test_properties.py).
        rng = self.rng
        had_state: set[tuple[str, str]] = set()
        for _ in range(STEPS):
            channel = rng.choice(self.channels)
            here = self.present[channel]
            tt = next(self.clock)
            if rng.random() < 0.1:
                join = [
                    u
                    for u in rng.sample(UUIDS, 2)
                    if u not in here and (channel, u) not in had_state
                ]
                gone = [u for u in here if rng.random() < 0.2]
                for u in join:
                    here[u] = None
                for u in gone:
                    del here[u]
                yield PresenceEvent(
                    "interval", channel, None, len(here), 0, tt, join=join, timeout=gone
                )
                continue
            uuid = rng.choice(UUIDS)
            key = (channel, uuid)
            if uuid not in here:
                state = rng.choice(STATES)
                here[uuid] = state
                if state is not None:
                    had_state.add(key)
                yield PresenceEvent("join", channel, uuid, len(here), 0, tt, state)
            elif rng.random() < 0.3:
                state = rng.choice(STATES[1:])
                here[uuid] = state
                had_state.add(key)
                yield PresenceEvent("state-change", channel, uuid, len(here), 0, tt, state)
            else:
                action = rng.choice(["timeout", "timeout", "leave"])
                state = here.pop(uuid)
                yield PresenceEvent(action, channel, uuid, len(here), 0, tt)
                if action == "timeout" and rng.random() < 0.5:
                    # A quick rejoin, often inside the grace, with or without its state.
                    state = state if rng.random() < 0.5 else rng.choice(STATES)
                    here[uuid] = state
                    if state is not None:
                        had_state.add(key)
                    yield PresenceEvent(
                        "join", channel, uuid, len(here), 0, next(self.clock), state
                    )


def _view(roster: Roster) -> tuple[dict[str, Any], int]:
    return {m.uuid: (dict(m.state) if m.state else None) for m in roster}, roster.occupancy


@pytest.mark.timeout(30)
@pytest.mark.parametrize("run", range(8))
@pytest.mark.usefixtures("eager_switching")
def test_threads_and_timers_lose_nothing(run: int, wait_for: Any, figures: Any) -> None:
    threads_before = set(threading.enumerate())
    timers = TimeoutScheduler.singleton() if run % 2 else None  # None: the hub's own
    hub = PresenceStreams(None, scheduler=timers, here_now=None)
    clock = itertools.count(1)
    producers = [Producer(i, run, clock) for i in range(PRODUCERS)]
    channels = [c for p in producers for c in p.channels]
    problems: list[str] = []
    busy = {c: threading.Lock() for c in channels}
    graced: dict[str, Roster] = {}
    producer_names = {f"producer-{i}" for i in range(PRODUCERS)}
    timer_emissions = [0]

    def on_graced(channel: str, roster: Roster) -> None:
        if not busy[channel].acquire(blocking=False):
            problems.append(f"{channel}: concurrent emissions")
            return
        try:
            graced[channel] = roster
            if threading.current_thread().name not in producer_names:
                timer_emissions[0] += 1  # a held departure released by a timer thread
            if roster.occupancy != len(roster):
                problems.append(f"{channel}: occupancy {roster.occupancy} for {len(roster)}")
            missing = hub.current(channel).uuids - roster.uuids
            if missing:
                problems.append(f"{channel}: suppressed roster lacks {sorted(missing)}")
        finally:
            busy[channel].release()

    for channel in channels:
        hub.roster(channel, grace=GRACE).subscribe(
            lambda r, c=channel: on_graced(c, r)  # type: ignore[misc]
        )
    delivered: list[PresenceEvent] = []
    hub.events.subscribe(delivered.append)  # called under the hub's lock: no race
    errors: list[Any] = []
    hub.errors.subscribe(errors.append)

    barrier = threading.Barrier(PRODUCERS)

    def produce(producer: Producer) -> None:
        barrier.wait()
        for event in producer.events():
            hub.push(event)
            producer.pushed += 1

    workers = [
        threading.Thread(target=produce, args=(p,), name=f"producer-{i}")
        for i, p in enumerate(producers)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(20)
    assert not any(w.is_alive() for w in workers)

    def settled() -> bool:
        # A quiet period longer than the grace: every hold released or cancelled.
        return all(_view(graced[c]) == _view(hub.current(c)) for c in channels)

    wait_for(settled, timeout=10, message="(suppressed rosters caught up)")
    assert not problems, problems[:5]
    assert errors == []
    pushed = sum(p.pushed for p in producers)
    assert len(delivered) == pushed
    for producer in producers:
        mine = [e for e in delivered if e.channel in producer.channels]
        assert [e.timetoken for e in mine] == sorted(e.timetoken for e in mine)
        for channel in producer.channels:
            truth = {u: (dict(s) if s else None) for u, s in producer.present[channel].items()}
            assert _view(hub.current(channel)) == (truth, len(truth)), channel
    hub.close()

    def no_new_threads() -> bool:
        return all(t in threads_before or not t.is_alive() for t in threading.enumerate())

    wait_for(no_new_threads, timeout=5, message="(timer threads ended after close)")
    assert timer_emissions[0] > 0  # timers did fire while producers pushed
    figures.update(threads=PRODUCERS)
    figures.add(runs=1, events=pushed, timer_releases=timer_emissions[0])


@pytest.mark.timeout(30)
def test_close_cancels_pending_grace_timers(wait_for: Any) -> None:
    """Held departures wait on the hub's timer thread; ``close()`` ends it at once, long
    before their grace would, and emits nothing after the completion."""
    threads_before = set(threading.enumerate())
    hub = PresenceStreams(None, here_now=None)
    after_close: list[Roster] = []
    closed = threading.Event()

    def on_roster(roster: Roster) -> None:
        if closed.is_set():
            after_close.append(roster)

    hub.roster("room", grace=60).subscribe(on_roster, on_completed=closed.set)
    for i in range(20):
        hub.push(PresenceEvent("join", "room", f"u{i}", i + 1, 0, 2 * i + 1))
    for i in range(20):
        hub.push(PresenceEvent("timeout", "room", f"u{i}", 19 - i, 0, 100 + i))

    def new_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]

    assert [t.name for t in new_threads()] == ["rxpresence-timers"]  # one for all 20
    assert len(hub.current("room")) == 0
    hub.close()
    assert closed.is_set()
    wait_for(lambda: not new_threads(), timeout=5, message="(timer threads ended)")
    assert after_close == []
