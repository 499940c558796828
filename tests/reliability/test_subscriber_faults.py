"""Subscribers that raise, are slow, or dispose during a delivery cannot hurt the others.

On every hub stream (``events``, a per-action stream, a raw and a flicker-suppressed
roster, occupancy) misbehaving subscribers sit between two well-behaved ones. The
well-behaved ones must receive every value, in order, exactly as a hub with no
misbehaving subscriber delivers it; every exception must be reported on ``errors``.
A second test does the same with several producer threads and a slow subscriber.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from reactivex import Observable
from reactivex.abc import DisposableBase
from reactivex.testing import TestScheduler

from rxpresence import ErrorReport, PresenceEvent, PresenceStreams
from rxpresence.simulate import ChannelProfile, simulate

ROOM = "room"
GRACE = 3.0

HISTORY = simulate(
    ChannelProfile(
        ROOM,
        arrival_rate=0.5,
        session_seconds=30,
        initial_members=5,
        state_change_rate=1 / 20,
        flaky_fraction=0.6,
        drop_every=10,
        drop_seconds=(0.5, 6.0),
    ),
    duration=240,
    seed=5,
).events

StreamOf = Callable[[PresenceStreams], Observable[Any]]

STREAMS: dict[str, StreamOf] = {
    "events": lambda hub: hub.events,
    "joins": lambda hub: hub.joins,
    "roster": lambda hub: hub.roster(ROOM),
    "graced-roster": lambda hub: hub.roster(ROOM, grace=GRACE),
    "occupancy": lambda hub: hub.occupancy(ROOM),
}


class Boom(Exception):
    """What the misbehaving subscribers raise."""


def _play(hub: PresenceStreams, scheduler: TestScheduler) -> None:
    for at, event in HISTORY:
        scheduler.advance_to(at)
        hub.push(event)
    scheduler.advance_to(HISTORY[-1][0] + GRACE + 1)


def _reference(stream: StreamOf) -> list[Any]:
    scheduler = TestScheduler()
    hub = PresenceStreams(None, scheduler=scheduler, here_now=None)
    values: list[Any] = []
    stream(hub).subscribe(values.append)
    _play(hub, scheduler)
    hub.close()
    return values


@pytest.mark.parametrize("name", list(STREAMS))
def test_misbehaving_subscribers_do_not_affect_the_others(name: str, figures: Any) -> None:
    stream = STREAMS[name]
    expected = _reference(stream)
    assert len(expected) > 20
    scheduler = TestScheduler()
    hub = PresenceStreams(None, scheduler=scheduler, here_now=None)
    reports: list[ErrorReport] = []
    hub.errors.subscribe(reports.append)
    source = stream(hub)

    first: list[Any] = []
    raised = [0]
    flaky_seen: list[Any] = []
    self_disposer: list[Any] = []
    victim: list[Any] = []
    late: list[Any] = []
    last: list[Any] = []
    handles: dict[str, DisposableBase] = {}

    def always_raise(value: Any) -> None:
        raised[0] += 1
        raise Boom(f"always: {value!r}")

    def flaky(value: Any) -> None:
        flaky_seen.append(value)
        if len(flaky_seen) % 3 == 0:
            raised[0] += 1
            raise Boom("every third value")

    def slow(value: Any) -> None:
        time.sleep(0.0002)

    def dispose_self(value: Any) -> None:
        self_disposer.append(value)
        if len(self_disposer) == 2:
            handles["self"].dispose()

    kills = [0]

    def kill_victim(value: Any) -> None:
        kills[0] += 1
        if kills[0] == 3:
            handles["victim"].dispose()

    adds = [0]
    late_from = [0]

    def add_late(value: Any) -> None:
        adds[0] += 1
        if adds[0] == 4:
            late_from[0] = len(first)  # the index of the value being delivered, plus one
            source.subscribe(late.append)

    source.subscribe(first.append)
    source.subscribe(always_raise)
    source.subscribe(flaky)
    source.subscribe(slow)
    handles["self"] = source.subscribe(dispose_self)
    handles["victim"] = source.subscribe(victim.append)
    source.subscribe(kill_victim)
    source.subscribe(add_late)
    source.subscribe(last.append)
    _play(hub, scheduler)

    assert first == expected
    assert last == expected
    assert self_disposer == expected[:2]
    assert victim == expected[:3]
    # A late subscriber to a roster or occupancy gets the current value at once.
    replayed = name not in ("events", "joins")
    assert late == expected[late_from[0] - (1 if replayed else 0) :]
    assert [r.where for r in reports] == ["subscriber"] * raised[0]
    assert all(isinstance(r.error, Boom) for r in reports)
    hub.close()
    figures.add(streams=1, values_checked=len(expected), exceptions_isolated=raised[0])


@pytest.mark.timeout(30)
def test_a_slow_and_a_raising_subscriber_under_concurrent_producers(figures: Any) -> None:
    hub = PresenceStreams(None, here_now=None)
    producers, per_producer = 4, 1500
    good: list[PresenceEvent] = []
    rosters_seen: dict[str, int] = {}
    reports: list[ErrorReport] = []
    hub.errors.subscribe(reports.append)

    def slow(event: PresenceEvent) -> None:
        time.sleep(0.00005)

    def boom(event: PresenceEvent) -> None:
        raise Boom("raising subscriber")

    hub.events.subscribe(slow)
    hub.events.subscribe(boom)
    hub.events.subscribe(good.append)
    for p in range(producers):
        hub.roster(f"ch{p}").subscribe(
            lambda r, c=f"ch{p}": rosters_seen.__setitem__(c, len(r))  # type: ignore[misc]
        )
    barrier = threading.Barrier(producers)

    def produce(p: int) -> None:
        barrier.wait()
        for i in range(per_producer):
            hub.push(PresenceEvent("join", f"ch{p}", f"u{i}", i + 1, 0, i + 1))

    workers = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(25)
    assert not any(w.is_alive() for w in workers)
    assert len(good) == producers * per_producer
    for p in range(producers):
        mine = [e.uuid for e in good if e.channel == f"ch{p}"]
        assert mine == [f"u{i}" for i in range(per_producer)]  # in order, none missing
        assert rosters_seen[f"ch{p}"] == per_producer
    assert len(reports) == producers * per_producer
    hub.close()
    figures.update(producers=producers, events=len(good), exceptions_isolated=len(reports))
