"""The parts of flicker suppression on their own: late events, deadlines, hidden flickers.

``suppress_flicker`` and the hub's graced rosters are tested end to end elsewhere
(``tests/operators/test_suppress_flicker.py``, ``tests/test_graced_fusion.py``); these
tests pin the timer-free late-event repair (:class:`LateEvents`), the one-timer queue
(:class:`DeadlineQueue`) and the hub's stream of hidden flickers.
"""

from __future__ import annotations

from typing import Any

import pytest
from reactivex import abc
from reactivex.testing import TestScheduler

from rxpresence import HiddenFlicker, PresenceEvent, PresenceStreams
from rxpresence._deadlines import DeadlineQueue
from rxpresence._ordering import DROP, LateEvents


def ev(action: str, uuid: str, tt: int, occupancy: int = 1) -> PresenceEvent:
    return PresenceEvent(action, "room", uuid, occupancy, timetoken=tt)


# -- late events ---------------------------------------------------------------------


def test_events_older_than_a_swallowed_rejoin_are_dropped() -> None:
    late = LateEvents()
    late.swallowed["a"] = 50
    assert late.in_order(ev("leave", "a", 40), 3) is None
    assert late.in_order(ev("join", "a", 50), 3, or_same=True) is None  # the rejoin again
    assert late.in_order(ev("leave", "a", 50), 3) == ev("leave", "a", 50)
    assert late.in_order(ev("join", "b", 10), 3) == ev("join", "b", 10)  # other uuids


def test_late_events_after_a_release_are_lifted_then_the_entry_ends() -> None:
    late = LateEvents()
    late.released_at("a", 20, 60)  # departed at 20, released with 60
    assert late.lift("a", 10) is None  # older than the departure: as it is
    lifted = late.in_order(ev("join", "a", 30, occupancy=1), 7)
    assert (lifted.timetoken, lifted.occupancy) == (60, 7)  # type: ignore[union-attr]
    assert late.lift("a", 25) == DROP  # older than one already lifted
    assert late.lift("a", 40) == 60
    assert late.lift("a", 60) is None  # newer than the release: done
    assert "a" not in late.released
    assert late.lift("a", 40) is None


def test_absent_until_a_newer_arrival() -> None:
    late = LateEvents()
    late.mark_absent("a", 30)
    late.mark_absent("a", 20)  # an older departure does not move it back
    assert late.absent == {"a": 30}
    late.arrived("a", 25)
    assert "a" in late.absent
    late.arrived("a", 30)
    assert "a" not in late.absent


def test_the_tables_are_bounded_oldest_first() -> None:
    from rxpresence._ordering import ABSENT_MAX

    late = LateEvents()
    for i in range(ABSENT_MAX + 5):
        late.mark_absent(f"u{i}", i)
    assert len(late.absent) == ABSENT_MAX
    assert "u0" not in late.absent and f"u{ABSENT_MAX + 4}" in late.absent


# -- one timer for many deadlines ------------------------------------------------------------


class _Counting(TestScheduler):
    """A TestScheduler counting the items scheduled on it."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = 0

    def schedule_relative(self, duetime: Any, action: Any, state: Any = None) -> Any:
        self.scheduled += 1
        return super().schedule_relative(duetime, action, state)


def test_many_deadlines_use_one_scheduler_item_at_a_time() -> None:
    scheduler = _Counting()
    due: list[tuple[float, str]] = []
    queue: DeadlineQueue[str] = DeadlineQueue(scheduler, lambda s: due.append((scheduler.clock, s)))
    scheduler.advance_to(10)
    for name in "abc":
        queue.push(5, name)  # one deadline: one item
    scheduler.advance_to(11)
    queue.push(5, "d")
    queue.push(2, "early")  # earlier than the armed one: armed again
    assert scheduler.scheduled == 2
    scheduler.advance_to(30)
    assert due == [(13.0, "early"), (15.0, "a"), (15.0, "b"), (15.0, "c"), (16.0, "d")]
    assert scheduler.scheduled == 4  # then one for 15 and one for 16, as each came due
    assert len(queue) == 0


def test_drain_and_clear_cancel_the_timer() -> None:
    scheduler = TestScheduler()
    due: list[str] = []
    queue: DeadlineQueue[str] = DeadlineQueue(scheduler, due.append)
    queue.push(5, "b")
    queue.push(1, "a")
    assert queue.drain() == ["a", "b"]
    queue.push(1, "c")
    queue.clear()
    scheduler.advance_to(100)
    assert due == []


class _Refusing(TestScheduler):
    def schedule_relative(self, duetime: Any, action: Any, state: Any = None) -> abc.DisposableBase:
        raise RuntimeError("can't start new thread")


def test_a_scheduler_that_refuses_raises_to_the_pusher() -> None:
    queue: DeadlineQueue[str] = DeadlineQueue(_Refusing(), lambda s: None)
    with pytest.raises(RuntimeError, match="can't start"):
        queue.push(1, "a")


# -- hidden flickers -----------------------------------------------------------------------


def test_the_hub_reports_each_flicker_its_graced_roster_hides() -> None:
    scheduler = TestScheduler()
    hub = PresenceStreams(None, scheduler=scheduler, here_now=None)
    hidden: list[HiddenFlicker] = []
    completed: list[bool] = []
    hub.flickers("room", grace=5).subscribe(
        hidden.append, on_completed=lambda: completed.append(True)
    )
    hub.push(ev("join", "a", 10**7))
    hub.push(ev("timeout", "a", 2 * 10**7, occupancy=0))
    scheduler.advance_to(3)
    hub.push(ev("join", "a", 5 * 10**7))  # back 3 s later: hidden
    hub.push(ev("timeout", "a", 6 * 10**7, occupancy=0))
    scheduler.advance_to(20)  # released: shown
    hub.push(ev("join", "a", 30 * 10**7))
    assert [(f.channel, f.uuid, f.gap) for f in hidden] == [("room", "a", 3.0)]
    assert hidden[0].departure.action.value == "timeout"
    assert hidden[0].rejoin.timetoken == 5 * 10**7
    hub.close()
    assert completed == [True]


@pytest.mark.parametrize("grace", [None, 0, -1, "5"])
def test_flickers_need_a_grace(grace: Any) -> None:
    hub = PresenceStreams(None, here_now=None)
    with pytest.raises(ValueError, match="grace"):
        hub.flickers("room", grace=grace)
    hub.close()
