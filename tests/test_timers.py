"""Timers: the hub's own timer thread, failures reported, nothing held for good."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from polling import wait_for
from reactivex import abc
from reactivex.scheduler import EventLoopScheduler, TimeoutScheduler
from reactivex.subject import Subject

from rxpresence import PresenceEvent, PresenceStreams, Roster
from rxpresence._locked import LockedScheduler, TimerThread
from rxpresence.operators import suppress_flicker, to_roster


def _new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.mark.timeout(30)
def test_held_departures_share_the_hubs_one_timer_thread() -> None:
    before = set(threading.enumerate())
    hub = PresenceStreams(None, here_now=None)
    rosters: list[Roster] = []
    hub.roster("room", grace=0.2).subscribe(rosters.append)
    for i in range(200):
        hub.push(PresenceEvent("join", "room", f"u{i}", i + 1, 1, i))
    assert _new_threads(before) == []  # no timer pending, no thread
    for i in range(200):
        hub.push(PresenceEvent("timeout", "room", f"u{i}", 199 - i, 2, 1000 + i))
    started = _new_threads(before)
    assert [t.name for t in started] == ["rxpresence-timers"]
    assert len(rosters[-1]) == 200  # all held
    wait_for(lambda: len(rosters[-1]) == 0, 10, "(held timeouts released)")
    assert rosters[-1].occupancy == 0
    # Nothing pending: the thread ends by itself (close() ending it while timers are
    # pending is test_concurrency.py::test_close_cancels_pending_grace_timers).
    wait_for(lambda: not _new_threads(before), 10, "(idle timer thread ended)")
    hub.close()


@pytest.mark.timeout(30)
def test_a_raising_timer_action_is_reported_and_later_timers_still_run() -> None:
    # On one shared thread an exception would end every later timer with it.
    inner = EventLoopScheduler(exit_if_empty=True)
    reports: list[tuple[str, BaseException, Any]] = []
    timers = LockedScheduler(inner, threading.RLock(), lambda *r: reports.append(r))
    ran = threading.Event()

    def boom(scheduler: abc.SchedulerBase, state: Any = None) -> None:
        raise RuntimeError("boom")

    timers.schedule_relative(0.01, boom)
    timers.schedule_relative(0.05, lambda scheduler, state: ran.set())
    wait_for(ran.is_set, 10, "(the later timer ran)")
    assert [(where, str(error)) for where, error, _ in reports] == [("timer", "boom")]
    inner.dispose()


class _NoThreadsLeft(TimeoutScheduler):
    """A scheduler that cannot start a timer, as when a process hits its thread limit."""

    def schedule_relative(self, duetime: Any, action: Any, state: Any = None) -> Any:
        raise RuntimeError("can't start new thread")


def test_a_departure_whose_timer_cannot_start_goes_out_at_once() -> None:
    source: Subject[PresenceEvent] = Subject()
    rosters: list[Roster] = []
    source.pipe(suppress_flicker(5, scheduler=_NoThreadsLeft()), to_roster("room")).subscribe(
        rosters.append
    )
    source.on_next(PresenceEvent("join", "room", "a", 1, 1, 1))
    with pytest.raises(RuntimeError, match="can't start new thread"):
        source.on_next(PresenceEvent("timeout", "room", "a", 0, 2, 2))
    assert (rosters[-1].uuids, rosters[-1].occupancy) == (frozenset(), 0)


def test_through_the_hub_the_failed_timer_is_reported_and_nothing_is_held() -> None:
    hub = PresenceStreams(None, scheduler=_NoThreadsLeft(), here_now=None)
    errors = []
    hub.errors.subscribe(errors.append)
    rosters: list[Roster] = []
    hub.roster("room", grace=5).subscribe(rosters.append)
    hub.push(PresenceEvent("join", "room", "a", 1, 1, 1))
    hub.push(PresenceEvent("timeout", "room", "a", 0, 2, 2))
    assert rosters[-1].uuids == frozenset()
    assert [str(e.error) for e in errors] == ["can't start new thread"]
    hub.push(PresenceEvent("join", "room", "b", 1, 3, 3))  # delivery goes on
    assert rosters[-1].uuids == {"b"}
    hub.close()


class _NoWallClock:
    @staticmethod
    def now(tz: Any = None) -> datetime:
        raise AssertionError("the wall clock was read")


def test_the_timer_clock_is_monotonic_after_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    # EventLoopScheduler keeps its queue in the scheduler's time: a wall-clock step would
    # delay or hasten every pending grace period, so only creation reads the wall clock.
    seconds = [1000.0]
    timers = TimerThread(clock=lambda: seconds[0])
    start = timers.now
    assert abs((start - datetime.now(UTC)).total_seconds()) < 5  # still reads as a date
    monkeypatch.setattr("rxpresence._locked.datetime", _NoWallClock)
    seconds[0] += 2.5
    assert timers.now - start == timedelta(seconds=2.5)
    timers.dispose()
