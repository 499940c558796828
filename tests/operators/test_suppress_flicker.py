"""suppress_flicker in virtual time: one tick of the TestScheduler is one second.

Events carry timestamp = their tick and timetoken = tick * 10^7, so a rejoin 3 s after a
timeout is ``ev("join", "a", 303, ...)`` after ``ev("timeout", "a", 300, ...)``.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from helpers import ROOM, TT, ev, member, roster
from reactivex import Observable
from reactivex import operators as ops
from reactivex.subject import Subject
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded
from reactivex.testing.subscription import Subscription

from rxpresence import PresenceEvent
from rxpresence.operators import suppress_flicker, to_occupancy, to_roster

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


def run(
    messages: list[Recorded[Any]],
    *operators: Any,
    disposed: int = 1000,
) -> tuple[list[Recorded[Any]], list[Subscription]]:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(messages)

    def create() -> Observable[Any]:
        return xs.pipe(*operators)

    results = scheduler.start(create, disposed=disposed)
    return results.messages, xs.subscriptions


JOIN_A = ev("join", "a", 210, 1)
JOIN_B = ev("join", "b", 220, 2)
BOTH = [on_next(210, JOIN_A), on_next(220, JOIN_B)]


# -- the flicker itself ------------------------------------------------------------------


def test_timeout_then_rejoin_within_grace_emits_neither() -> None:
    messages, subscriptions = run(
        [
            *BOTH,
            on_next(300, ev("timeout", "a", 300, 1)),
            on_next(303, ev("join", "a", 303, 2)),
            on_completed(400),
        ],
        suppress_flicker(5),
    )
    assert messages == [on_next(210, JOIN_A), on_next(220, JOIN_B), on_completed(400)]
    assert subscriptions == [subscribe(200, 400)]


def test_flicker_makes_no_roster_emission_and_no_occupancy_dip() -> None:
    flicker = [
        *BOTH,
        on_next(300, ev("timeout", "a", 300, 1)),
        on_next(303, ev("join", "a", 303, 2)),
        on_completed(400),
    ]
    rosters, subscriptions = run(flicker, suppress_flicker(5), to_roster(ROOM))
    assert rosters == [
        on_next(210, roster(1, member("a", 210))),
        on_next(220, roster(2, member("a", 210), member("b", 220))),
        on_completed(400),
    ]
    assert subscriptions == [subscribe(200, 400)]

    counts, _ = run(flicker, suppress_flicker(5), to_occupancy())
    assert counts == [on_next(210, 1), on_next(220, 2), on_completed(400)]

    via_roster, _ = run(flicker, suppress_flicker(5), to_roster(ROOM), to_occupancy())
    assert via_roster == counts


def test_events_passing_during_the_window_carry_the_held_departure() -> None:
    # PubNub counts c's join as 2 (a is already gone for it); downstream a never left.
    messages, _ = run(
        [
            *BOTH,
            on_next(300, ev("timeout", "a", 300, 1)),
            on_next(301, ev("join", "c", 301, 2)),
            on_next(303, ev("join", "a", 303, 3)),
            on_completed(400),
        ],
        suppress_flicker(5),
        to_occupancy(),
    )
    assert messages == [on_next(210, 1), on_next(220, 2), on_next(301, 3), on_completed(400)]


def test_timeout_without_rejoin_removes_the_member_at_the_end_of_the_grace() -> None:
    timeout = ev("timeout", "a", 300, 1)
    events, subscriptions = run([*BOTH, on_next(300, timeout)], suppress_flicker(5))
    assert events == [on_next(210, JOIN_A), on_next(220, JOIN_B), on_next(305, timeout)]
    assert subscriptions == [subscribe(200, 1000)]

    rosters, _ = run([*BOTH, on_next(300, timeout)], suppress_flicker(5), to_roster(ROOM))
    assert rosters == [
        on_next(210, roster(1, member("a", 210))),
        on_next(220, roster(2, member("a", 210), member("b", 220))),
        on_next(305, roster(1, member("b", 220))),
    ]


def test_released_departure_takes_newer_timetoken_and_current_occupancy() -> None:
    # b leaves (not held) while a's timeout is held: PubNub says 0, downstream shows 1;
    # a's release at 305 must then bring the roster to 0, so it takes the leave's
    # timetoken (a roster ignores the occupancy of an older event).
    leave_b = ev("leave", "b", 301, 0)
    messages, _ = run(
        [*BOTH, on_next(300, ev("timeout", "a", 300, 1)), on_next(301, leave_b)],
        suppress_flicker(5),
    )
    assert messages == [
        on_next(210, JOIN_A),
        on_next(220, JOIN_B),
        on_next(301, leave_b.replace(occupancy=1)),
        on_next(305, ev("timeout", "a", 300, 0).replace(timetoken=301 * TT)),
    ]
    rosters, _ = run(
        [*BOTH, on_next(300, ev("timeout", "a", 300, 1)), on_next(301, leave_b)],
        suppress_flicker(5),
        to_roster(ROOM),
    )
    assert [(m.time, sorted(m.value.value.uuids), m.value.value.occupancy) for m in rosters] == [
        (210, ["a"], 1),
        (220, ["a", "b"], 2),
        (301, ["a"], 1),
        (305, [], 0),
    ]


# -- state on rejoin -----------------------------------------------------------------------


def test_rejoin_with_new_state_emits_a_state_change() -> None:
    join = ev("join", "a", 210, 1, state={"mood": "ok"})
    rejoin = ev("join", "a", 303, 1, state={"mood": "away"})
    messages, _ = run(
        [on_next(210, join), on_next(300, ev("timeout", "a", 300, 0)), on_next(303, rejoin)],
        suppress_flicker(5),
    )
    assert messages == [
        on_next(210, join),
        on_next(303, ev("state-change", "a", 303, 1, state={"mood": "away"})),
    ]
    rosters, _ = run(
        [on_next(210, join), on_next(300, ev("timeout", "a", 300, 0)), on_next(303, rejoin)],
        suppress_flicker(5),
        to_roster(ROOM),
    )
    assert rosters == [
        on_next(210, roster(1, member("a", 210, state={"mood": "ok"}))),
        on_next(303, roster(1, member("a", 210, 303, state={"mood": "away"}))),
    ]


def test_rejoin_with_same_state_emits_nothing() -> None:
    join = ev("join", "a", 210, 1, state={"mood": "ok"})
    messages, _ = run(
        [
            on_next(210, join),
            on_next(300, ev("timeout", "a", 300, 0)),
            on_next(303, ev("join", "a", 303, 1, state={"mood": "ok"})),
        ],
        suppress_flicker(5),
    )
    assert messages == [on_next(210, join)]


def test_rejoin_without_state_clears_the_known_state() -> None:
    # PubNub cleared the state on the timeout; the raw roster shows none, so must this.
    join = ev("join", "a", 210, 1, state={"mood": "ok"})
    rejoin = ev("join", "a", 303, 1)
    messages, _ = run(
        [on_next(210, join), on_next(300, ev("timeout", "a", 300, 0)), on_next(303, rejoin)],
        suppress_flicker(5),
    )
    assert messages == [on_next(210, join), on_next(303, rejoin.replace(action="state-change"))]


def test_last_known_state_follows_state_changes() -> None:
    join = ev("join", "a", 210, 1, state={"mood": "ok"})
    change = ev("state-change", "a", 250, 1, state={"mood": "busy"})
    messages, _ = run(
        [
            on_next(210, join),
            on_next(250, change),
            on_next(300, ev("timeout", "a", 300, 0)),
            on_next(303, ev("join", "a", 303, 1, state={"mood": "busy"})),
        ],
        suppress_flicker(5),
    )
    assert messages == [on_next(210, join), on_next(250, change)]


# -- completion, error, dispose ------------------------------------------------------------


def test_completion_flushes_held_events_in_the_order_they_were_held() -> None:
    join_c = ev("join", "c", 230, 3)
    timeout_b = ev("timeout", "b", 300, 2)
    timeout_a = ev("timeout", "a", 301, 1)
    messages, subscriptions = run(
        [
            *BOTH,
            on_next(230, join_c),
            on_next(300, timeout_b),
            on_next(301, timeout_a),
            on_completed(302),
        ],
        suppress_flicker(5),
    )
    assert messages == [
        on_next(210, JOIN_A),
        on_next(220, JOIN_B),
        on_next(230, join_c),
        on_next(302, timeout_b),
        on_next(302, timeout_a),
        on_completed(302),
    ]
    assert subscriptions == [subscribe(200, 302)]


def test_dispose_cancels_the_timers() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(*BOTH, on_next(300, ev("timeout", "a", 300, 1)))
    timers: list[Any] = []
    schedule_relative = scheduler.schedule_relative

    def spy(duetime: Any, action: Any, state: Any = None) -> Any:
        timers.append(disposable := schedule_relative(duetime, action, state))
        return disposable

    scheduler.schedule_relative = spy  # type: ignore[method-assign]
    results = scheduler.start(lambda: xs.pipe(suppress_flicker(5)), disposed=302)

    assert results.messages == [on_next(210, JOIN_A), on_next(220, JOIN_B)]
    assert xs.subscriptions == [subscribe(200, 302)]
    assert len(timers) == 1
    assert timers[0].is_disposed


def test_error_cancels_the_timers_and_is_forwarded() -> None:
    error = RuntimeError("boom")
    messages, subscriptions = run(
        [*BOTH, on_next(300, ev("timeout", "a", 300, 1)), on_error(302, error)],
        suppress_flicker(5),
    )
    assert messages == [on_next(210, JOIN_A), on_next(220, JOIN_B), on_error(302, error)]
    assert subscriptions == [subscribe(200, 302)]


def test_each_subscription_has_its_own_holds() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        *BOTH, on_next(300, ev("timeout", "a", 300, 1)), on_next(303, ev("join", "a", 303, 2))
    )
    shared = xs.pipe(suppress_flicker(5))
    early, late = scheduler.create_observer(), scheduler.create_observer()
    scheduler.schedule_absolute(200, lambda *_: shared.subscribe(early, scheduler=scheduler))
    # Subscribed between the timeout and the rejoin: it never saw the timeout, so it
    # passes the rejoin on.
    scheduler.schedule_absolute(301, lambda *_: shared.subscribe(late, scheduler=scheduler))
    scheduler.start()
    assert early.messages == [on_next(210, JOIN_A), on_next(220, JOIN_B)]
    assert late.messages == [on_next(303, ev("join", "a", 303, 2))]


# -- which departures are held -------------------------------------------------------------


def test_leaves_pass_through_at_once_with_the_default_actions() -> None:
    leave = ev("leave", "a", 300, 1)
    messages, _ = run(
        [*BOTH, on_next(300, leave), on_next(303, ev("join", "a", 303, 2))],
        suppress_flicker(5),
    )
    assert messages == [
        on_next(210, JOIN_A),
        on_next(220, JOIN_B),
        on_next(300, leave),
        on_next(303, ev("join", "a", 303, 2)),
    ]


@pytest.mark.parametrize("actions", [("leave",), "leave", ["leave", "timeout"]])
def test_leaves_are_held_when_listed(actions: Any) -> None:
    leave = ev("leave", "a", 300, 1)
    messages, _ = run(
        [*BOTH, on_next(300, leave), on_next(310, ev("leave", "b", 310, 0))],
        suppress_flicker(5, actions=actions),
    )
    assert messages == [
        on_next(210, JOIN_A),
        on_next(220, JOIN_B),
        on_next(305, leave),
        on_next(315, ev("leave", "b", 310, 0)),
    ]


def test_timeouts_pass_through_when_only_leaves_are_held() -> None:
    timeout = ev("timeout", "a", 300, 1)
    messages, _ = run([*BOTH, on_next(300, timeout)], suppress_flicker(5, actions=["leave"]))
    assert messages == [on_next(210, JOIN_A), on_next(220, JOIN_B), on_next(300, timeout)]


def test_a_leave_supersedes_a_held_timeout_of_the_same_uuid() -> None:
    leave = ev("leave", "a", 302, 1)
    messages, _ = run(
        [*BOTH, on_next(300, ev("timeout", "a", 300, 1)), on_next(302, leave)],
        suppress_flicker(5),
    )
    assert messages == [on_next(210, JOIN_A), on_next(220, JOIN_B), on_next(302, leave)]


def test_grace_as_a_timedelta() -> None:
    timeout = ev("timeout", "a", 300, 1)
    messages, _ = run(
        [*BOTH, on_next(300, timeout)], suppress_flicker(timedelta(seconds=5, milliseconds=500))
    )
    assert messages == [on_next(210, JOIN_A), on_next(220, JOIN_B), on_next(305.5, timeout)]


def test_keys_are_independent() -> None:
    timeout_a = ev("timeout", "a", 300, 1)
    timeout_b = ev("timeout", "b", 302, 0)
    lobby_join = ev("join", "a", 250, 1, channel="lobby")
    lobby_timeout = ev("timeout", "a", 301, 0, channel="lobby")
    messages, _ = run(
        [
            *BOTH,
            on_next(250, lobby_join),
            on_next(300, timeout_a),
            on_next(301, lobby_timeout),
            on_next(302, timeout_b),
            on_next(304, ev("join", "a", 304, 1)),  # back in room only
        ],
        suppress_flicker(5),
    )
    assert messages == [
        on_next(210, JOIN_A),
        on_next(220, JOIN_B),
        on_next(250, lobby_join),
        on_next(306, lobby_timeout),
        # a is back by then: PubNub's latest count for room (1) goes with b's timeout.
        on_next(307, timeout_b.replace(occupancy=1)),
    ]


def test_a_departure_older_than_the_last_join_passes_through() -> None:
    # Out of order: the timeout predates the join, so a roster ignores it anyway.
    stale = ev("timeout", "a", 205, 0)
    messages, _ = run([on_next(210, JOIN_A), on_next(211, stale)], suppress_flicker(5))
    assert messages == [on_next(210, JOIN_A), on_next(211, stale)]


# -- duplicates from overlapping channel and group subscriptions --------------------------


def test_duplicate_deliveries_are_held_and_swallowed_once() -> None:
    timeout = ev("timeout", "a", 300, 1)
    rejoin = ev("join", "a", 303, 2)
    flicker = [
        *BOTH,
        on_next(300, timeout),
        on_next(300, timeout.replace(subscription="group")),
        on_next(303, rejoin),
        on_next(303, rejoin.replace(subscription="group")),
    ]
    messages, _ = run(flicker, suppress_flicker(5))
    assert messages == [on_next(210, JOIN_A), on_next(220, JOIN_B)]
    rosters, _ = run(flicker, suppress_flicker(5), to_roster(ROOM))
    assert [m.time for m in rosters] == [210, 220]


def test_a_duplicate_interval_rejoin_is_swallowed_too() -> None:
    interval = ev("interval", None, 302, 2, join=["a"])
    messages, _ = run(
        [
            *BOTH,
            on_next(300, ev("timeout", "a", 300, 1)),
            on_next(302, interval),
            on_next(302, interval.replace(subscription="group")),
        ],
        suppress_flicker(5),
    )
    assert messages == [on_next(210, JOIN_A), on_next(220, JOIN_B)]


def test_a_duplicate_departure_is_released_once() -> None:
    timeout = ev("timeout", "a", 300, 1)
    messages, _ = run(
        [*BOTH, on_next(300, timeout), on_next(301, timeout.replace(subscription="group"))],
        suppress_flicker(5),
    )
    assert messages == [on_next(210, JOIN_A), on_next(220, JOIN_B), on_next(305, timeout)]


# -- interval events -------------------------------------------------------------------------


def test_interval_departures_are_held_and_released_as_an_interval() -> None:
    interval = ev("interval", None, 300, 1, join=["c"], timeout=["a", "b"])
    messages, _ = run(
        [*BOTH, on_next(300, interval), on_next(302, ev("join", "b", 302, 2))],
        suppress_flicker(5),
    )
    assert messages == [
        on_next(210, JOIN_A),
        on_next(220, JOIN_B),
        # a and b held: PubNub's 1 counts c only.
        on_next(300, ev("interval", None, 300, 3, join=["c"])),
        on_next(305, ev("interval", None, 300, 2, timeout=["a"])),
    ]


def test_interval_join_cancels_a_held_departure() -> None:
    messages, _ = run(
        [
            *BOTH,
            on_next(300, ev("timeout", "a", 300, 1)),
            on_next(302, ev("interval", None, 302, 3, join=["a", "c"])),
        ],
        suppress_flicker(5),
    )
    assert messages == [
        on_next(210, JOIN_A),
        on_next(220, JOIN_B),
        on_next(302, ev("interval", None, 302, 3, join=["c"])),
    ]


def test_a_late_interval_event_is_split_around_a_released_uuid() -> None:
    # a's timeout (300) is released at 305 with the leave's newer timetoken 301. An
    # interval event of 303 arrives late with timetoken 300.5: a raw roster applies a's
    # rejoin in it (newer than 300), so a goes out on its own, lifted to 301 with the
    # newest count; c keeps the event's timetoken.
    late = ev("interval", None, 303, 2, join=["a", "c"]).replace(timetoken=300 * TT + 5)
    messages, _ = run(
        [
            *BOTH,
            on_next(300, ev("timeout", "a", 300, 1)),
            on_next(301, ev("leave", "b", 301, 0)),
            on_next(306, late),
        ],
        suppress_flicker(5),
    )
    assert messages == [
        on_next(210, JOIN_A),
        on_next(220, JOIN_B),
        on_next(301, ev("leave", "b", 301, 1)),
        on_next(305, ev("timeout", "a", 300, 0).replace(timetoken=301 * TT)),
        on_next(306, late.replace(join=["c"])),
        on_next(306, late.replace(join=["a"], timetoken=301 * TT, occupancy=0)),
    ]


def test_interval_left_with_nothing_is_not_emitted() -> None:
    # Emptied of uuids it would read as a here-now refresh request.
    messages, _ = run(
        [
            *BOTH,
            on_next(300, ev("timeout", "a", 300, 1)),
            on_next(302, ev("interval", None, 302, 1, join=["a"], timeout=["b"])),
            on_next(304, ev("join", "b", 304, 2)),
        ],
        suppress_flicker(5),
    )
    assert messages == [on_next(210, JOIN_A), on_next(220, JOIN_B)]


def test_interval_without_arrays_passes_through_with_corrected_occupancy() -> None:
    messages, _ = run(
        [
            *BOTH,
            on_next(300, ev("timeout", "a", 300, 1)),
            on_next(301, ev("interval", None, 301, 1)),
        ],
        suppress_flicker(5),
    )
    assert messages == [
        on_next(210, JOIN_A),
        on_next(220, JOIN_B),
        on_next(301, ev("interval", None, 301, 2)),
        on_next(305, ev("timeout", "a", 300, 1).replace(timetoken=301 * TT)),
    ]


def test_interval_leaves_pass_through_with_the_default_actions() -> None:
    interval = ev("interval", None, 300, 0, leave=["a"], timeout=["b"])
    messages, _ = run([*BOTH, on_next(300, interval)], suppress_flicker(5))
    assert messages == [
        on_next(210, JOIN_A),
        on_next(220, JOIN_B),
        on_next(300, ev("interval", None, 300, 1, leave=["a"])),
        on_next(305, ev("interval", None, 300, 0, timeout=["b"])),
    ]


# -- scheduler resolution: explicit > subscribe-time > default -------------------------------


def test_an_explicit_scheduler_wins_over_the_subscribe_time_one() -> None:
    scheduler, timers = TestScheduler(), TestScheduler()
    xs = scheduler.create_hot_observable(*BOTH, on_next(300, ev("timeout", "a", 300, 1)))
    results = scheduler.create_observer()
    xs.pipe(suppress_flicker(5, scheduler=timers)).subscribe(results, scheduler=scheduler)
    scheduler.advance_to(400)
    assert results.messages == [on_next(210, JOIN_A), on_next(220, JOIN_B)]
    timers.advance_by(5)  # the timer lives on `timers`; it fires when that one runs
    assert results.messages[2:] == [on_next(400, ev("timeout", "a", 300, 1))]


def test_the_subscribe_time_scheduler_is_used_without_an_explicit_one() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(*BOTH, on_next(300, ev("timeout", "a", 300, 1)))
    results = scheduler.create_observer()
    xs.pipe(suppress_flicker(5)).subscribe(results, scheduler=scheduler)
    scheduler.advance_to(400)
    assert results.messages[2:] == [on_next(305, ev("timeout", "a", 300, 1))]


def test_the_timeout_scheduler_is_the_default(mocker: Any) -> None:
    operator = suppress_flicker(5)
    fallback = TestScheduler()
    # Resolved at subscribe time, not when the operator is made.
    singleton = mocker.patch(
        "rxpresence.operators._flicker.TimeoutScheduler.singleton", return_value=fallback
    )
    source: Subject[PresenceEvent] = Subject()
    received: list[PresenceEvent] = []
    source.pipe(operator).subscribe(received.append)
    timeout = ev("timeout", "a", 300, 0)
    source.on_next(ev("join", "a", 210, 1))
    source.on_next(timeout)
    assert received == [ev("join", "a", 210, 1)]
    fallback.advance_by(5)
    assert received == [ev("join", "a", 210, 1), timeout]
    singleton.assert_called_once_with()


# -- arguments --------------------------------------------------------------------------------


def test_zero_grace_returns_the_source_itself() -> None:
    source: Observable[PresenceEvent] = Subject()
    assert source.pipe(suppress_flicker(0)) is source
    assert source.pipe(suppress_flicker(timedelta(0))) is source


@pytest.mark.parametrize(
    ("grace", "error"),
    [
        (-1, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (timedelta(seconds=-1), ValueError),
        (True, ValueError),
        ("5", ValueError),
    ],
)
def test_bad_grace_is_rejected(grace: Any, error: type[Exception]) -> None:
    # One grace parser for the operator and the hub: a bad grace is a ValueError.
    with pytest.raises(error, match="grace"):
        suppress_flicker(grace)


@pytest.mark.parametrize("actions", [("join",), ("timeout", "state-change"), ["l"]])
def test_bad_actions_are_rejected(actions: Any) -> None:
    with pytest.raises(ValueError, match="actions"):
        suppress_flicker(5, actions=actions)


def test_output_is_an_observable_of_events() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(210, JOIN_A), on_completed(220))
    results = scheduler.start(
        lambda: xs.pipe(suppress_flicker(5), ops.map(lambda e: e.uuid)),
    )
    assert results.messages == [on_next(210, "a"), on_completed(220)]


# -- re-entrancy -----------------------------------------------------------------------------


def test_an_observer_disposing_during_the_flush_stops_it() -> None:
    source: Subject[PresenceEvent] = Subject()
    scheduler = TestScheduler()
    received: list[Any] = []

    def record(event: PresenceEvent) -> None:
        received.append(event)
        subscription.dispose()  # from inside on_next, on the flushing thread

    subscription = source.pipe(suppress_flicker(5, scheduler=scheduler)).subscribe(
        record, on_completed=lambda: received.append("completed")
    )
    source.on_next(ev("timeout", "a", 300, 1))
    source.on_next(ev("timeout", "b", 301, 0))
    source.on_completed()
    assert received == [ev("timeout", "a", 300, 1)]


def test_an_observer_disposing_from_a_timer_callback_does_not_deadlock() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(300, ev("timeout", "a", 300, 1)), on_next(301, ev("timeout", "b", 301, 0))
    )
    received: list[PresenceEvent] = []

    def record(event: PresenceEvent) -> None:
        received.append(event)
        subscription.dispose()

    subscription = xs.pipe(suppress_flicker(5)).subscribe(record, scheduler=scheduler)
    scheduler.start()
    assert received == [ev("timeout", "a", 300, 1)]
    assert xs.subscriptions == [subscribe(0, 305)]
