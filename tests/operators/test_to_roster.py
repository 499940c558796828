"""to_roster in virtual time: the roster rules, seen through the operator."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import ROOM, TT, ev, member, roster
from reactivex import Observable
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded

from rxpresence import Member, Roster
from rxpresence.operators import to_roster

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


def run(*messages: Recorded[Any], operator: Any = None) -> list[Recorded[Any]]:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(*messages)

    def create() -> Observable[Roster]:
        return xs.pipe(operator or to_roster(ROOM))

    results = scheduler.start(create)
    assert xs.subscriptions == [subscribe(200, _end(messages))]
    return results.messages


def _end(messages: tuple[Recorded[Any], ...]) -> int:
    ends = [m.time for m in messages if m.value.kind in ("C", "E")]
    return int(ends[0]) if ends else 1000


def test_join_adds_the_member_with_its_state() -> None:
    assert run(
        on_next(210, ev("join", "a", 210, 1)),
        on_next(220, ev("join", "b", 220, 2, state={"mood": "ok"})),
        on_completed(300),
    ) == [
        on_next(210, roster(1, member("a", 210))),
        on_next(220, roster(2, member("a", 210), member("b", 220, state={"mood": "ok"}))),
        on_completed(300),
    ]


@pytest.mark.parametrize("departure", ["leave", "timeout"])
def test_leave_and_timeout_remove_the_member(departure: str) -> None:
    assert run(
        on_next(210, ev("join", "a", 210, 1)),
        on_next(220, ev("join", "b", 220, 2)),
        on_next(230, ev(departure, "a", 230, 1)),
    ) == [
        on_next(210, roster(1, member("a", 210))),
        on_next(220, roster(2, member("a", 210), member("b", 220))),
        on_next(230, roster(1, member("b", 220))),
    ]


def test_state_change_replaces_the_state_and_adds_an_unknown_uuid() -> None:
    assert run(
        on_next(210, ev("join", "a", 210, 1, state={"mood": "ok", "x": 1})),
        on_next(220, ev("state-change", "a", 220, 1, state={"mood": "away"})),
        on_next(230, ev("state-change", "b", 230, 2, state={"mood": "new"})),
    ) == [
        on_next(210, roster(1, member("a", 210, state={"mood": "ok", "x": 1}))),
        on_next(220, roster(1, member("a", 210, 220, state={"mood": "away"}))),
        on_next(
            230,
            roster(
                2,
                member("a", 210, 220, state={"mood": "away"}),
                member("b", 230, state={"mood": "new"}),
            ),
        ),
    ]


def test_a_join_states_the_whole_state() -> None:
    # A join carries the uuid's state; one without state leaves the member without one.
    assert run(
        on_next(210, ev("join", "a", 210, 1, state={"mood": "ok"})),
        on_next(220, ev("join", "a", 220, 1)),
        on_next(230, ev("join", "b", 230, 2)),
    ) == [
        on_next(210, roster(1, member("a", 210, state={"mood": "ok"}))),
        on_next(220, roster(1, member("a", 210, 220))),
        on_next(230, roster(2, member("a", 210, 220), member("b", 230))),
    ]


def test_interval_arrays_are_applied() -> None:
    assert run(
        on_next(210, ev("join", "a", 210, 1)),
        on_next(220, ev("join", "b", 220, 2)),
        on_next(230, ev("interval", None, 230, 2, join=["c", "d"], leave=["a"], timeout=["b"])),
        on_next(240, ev("interval", None, 240, 5)),  # no arrays: occupancy only
    ) == [
        on_next(210, roster(1, member("a", 210))),
        on_next(220, roster(2, member("a", 210), member("b", 220))),
        on_next(230, roster(2, member("c", 230), member("d", 230))),
        on_next(240, roster(5, member("c", 230), member("d", 230))),
    ]


def test_a_second_join_never_duplicates() -> None:
    messages = run(
        on_next(210, ev("join", "a", 210, 1)),
        on_next(220, ev("join", "a", 220, 1)),
        on_next(230, ev("join", "a", 230, 2)),  # PubNub counts a second device
    )
    assert messages == [
        on_next(210, roster(1, member("a", 210))),
        on_next(220, roster(1, member("a", 210, 220))),  # same member, newer timetoken
        on_next(230, roster(2, member("a", 210, 230))),
    ]
    assert len(messages[-1].value.value) == 1


def test_events_of_other_channels_are_ignored() -> None:
    assert run(
        on_next(210, ev("join", "a", 210, 1)),
        on_next(220, ev("join", "b", 220, 1, channel="lobby")),
        on_next(230, ev("leave", "a", 230, 0, channel="lobby")),
        on_next(240, ev("interval", None, 240, 9, channel="lobby", join=["x"])),
    ) == [on_next(210, roster(1, member("a", 210)))]


def test_without_a_channel_the_first_event_chooses_it() -> None:
    assert run(
        on_next(210, ev("join", "a", 210, 1, channel="lobby")),
        on_next(220, ev("join", "b", 220, 1)),
        on_next(230, ev("join", "c", 230, 2, channel="lobby")),
        operator=to_roster(),
    ) == [
        on_next(210, roster(1, member("a", 210), channel="lobby")),
        on_next(230, roster(2, member("a", 210), member("c", 230), channel="lobby")),
    ]


def test_older_events_for_a_uuid_are_ignored() -> None:
    assert run(
        on_next(210, ev("join", "a", 220, 1)),
        on_next(211, ev("leave", "a", 215, 0)),  # older than the join
        on_next(212, ev("state-change", "a", 216, 0, state={"s": 1})),
        on_next(213, ev("leave", "a", 230, 0)),
        on_next(214, ev("join", "a", 225, 1)),  # older than the leave
    ) == [
        on_next(210, roster(1, Member("a", None, 220, 220 * TT))),
        on_next(213, roster(0)),
    ]


def test_exact_duplicates_from_channel_and_group_are_applied_once() -> None:
    join = ev("join", "a", 210, 1)
    leave = ev("leave", "a", 230, 0)
    assert run(
        on_next(210, join),
        on_next(211, join.replace(subscription="group")),
        on_next(230, leave),
        on_next(231, leave.replace(subscription="group")),
    ) == [on_next(210, roster(1, member("a", 210))), on_next(230, roster(0))]


def test_distinct_until_changed_skips_bookkeeping_only_snapshots() -> None:
    assert run(
        on_next(210, ev("join", "a", 210, 1)),
        on_next(220, ev("join", "a", 220, 1)),
        on_next(230, ev("leave", "ghost", 230, 1)),
        on_next(240, ev("join", "b", 240, 2)),
        operator=lambda xs: xs.pipe(
            to_roster(ROOM),
            ops.distinct_until_changed(lambda r: ({m.uuid: m.state for m in r}, r.occupancy)),
        ),
    ) == [
        on_next(210, roster(1, member("a", 210))),
        on_next(240, roster(2, member("a", 210, 220), member("b", 240))),
    ]


def test_occupancy_changes_alone_are_emitted() -> None:
    assert run(
        on_next(210, ev("join", "a", 210, 1)),
        on_next(220, ev("leave", "ghost", 220, 3)),
    ) == [on_next(210, roster(1, member("a", 210))), on_next(220, roster(3, member("a", 210)))]


def test_snapshots_are_never_mutated_by_later_events() -> None:
    messages = run(
        on_next(210, ev("join", "a", 210, 1, state={"v": 1})),
        on_next(220, ev("state-change", "a", 220, 1, state={"v": 2})),
        on_next(230, ev("join", "b", 230, 2)),
        on_next(240, ev("timeout", "a", 240, 1)),
    )
    first, second, third, fourth = (m.value.value for m in messages)
    assert first == roster(1, member("a", 210, state={"v": 1}))
    assert dict(first["a"].state) == {"v": 1}
    assert second == roster(1, member("a", 210, 220, state={"v": 2}))
    assert third.uuids == {"a", "b"}
    assert fourth.uuids == {"b"}


def test_starts_from_the_initial_roster_without_emitting_it() -> None:
    initial = Roster(ROOM, [member("a", 100)], occupancy=1, timetoken=100 * TT)
    assert run(
        on_next(210, ev("join", "b", 210, 2)),
        on_completed(250),
        operator=to_roster(initial=initial),
    ) == [on_next(210, roster(2, member("a", 100), member("b", 210))), on_completed(250)]


def test_errors_pass_through() -> None:
    error = RuntimeError("boom")
    assert run(on_next(210, ev("join", "a", 210, 1)), on_error(220, error)) == [
        on_next(210, roster(1, member("a", 210))),
        on_error(220, error),
    ]


def test_each_subscription_folds_from_the_seed() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(210, ev("join", "a", 210, 1)), on_next(230, ev("join", "b", 230, 2))
    )
    rosters = xs.pipe(to_roster(ROOM))
    early, late = scheduler.create_observer(), scheduler.create_observer()
    scheduler.schedule_absolute(200, lambda *_: rosters.subscribe(early))
    scheduler.schedule_absolute(220, lambda *_: rosters.subscribe(late))
    scheduler.start()
    assert early.messages == [
        on_next(210, roster(1, member("a", 210))),
        on_next(230, roster(2, member("a", 210), member("b", 230))),
    ]
    assert late.messages == [on_next(230, roster(2, member("b", 230)))]


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="channel"):
        to_roster("")
    with pytest.raises(ValueError, match="lobby"):
        to_roster(ROOM, initial=Roster("lobby"))
    with pytest.raises(TypeError, match="initial"):
        to_roster(initial="room")  # type: ignore[arg-type]
